/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reporting from the library to whoever drives it: the library never prints. */
#pragma once

#include "lifeboat.h"
#include "util.h"

void lb_warn(const char *fmt, ...) _printf_(1, 2);
void lb_progress(const char *what, uint64_t done, uint64_t total);
