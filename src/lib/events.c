/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "events.h"

#include <stdio.h>

static lb_event_fn handler;
static void *handler_data;

void lb_set_event_handler(lb_event_fn fn, void *userdata)
{
        handler = fn;
        handler_data = userdata;
}

void lb_warn(const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        if (!handler)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        handler(LB_EVENT_WARNING, buf, NULL, handler_data);
}

void lb_progress(const char *what, uint64_t done, uint64_t total)
{
        if (!handler)
                return;
        struct lb_progress p = { .what = what, .done = done, .total = total };
        handler(LB_EVENT_PROGRESS, NULL, &p, handler_data);
}
