/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "disk.h"

#include <libfdisk/libfdisk.h>
#include <stdio.h>

#include "events.h"
#include "util.h"

static int ask_cb(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data)
{
        (void)cxt;
        switch (fdisk_ask_get_type(ask)) {
        case FDISK_ASKTYPE_WARN:
        case FDISK_ASKTYPE_WARNX:
                lb_warn("%s: %s", (const char *)data, fdisk_ask_print_get_mesg(ask));
                return 0;
        case FDISK_ASKTYPE_INFO:
                return 0;
        default:
                return -EINVAL; /* never answer questions: we only read */
        }
}

/* The used map of one volume at [start, start+size): its filesystem's used
 * ranges, or all of it. */
static int map_volume(int fd, const char *path, const char *what, uint64_t start, uint64_t size,
                      struct lb_fs_info *fs, bool *all_blocks, char *note, size_t note_len, uint64_t *used_bytes,
                      struct lb_extents *used)
{
        struct lb_extents ext = { 0 };
        int r = lb_fs_used(fd, start, size, &ext, fs);
        if (r == 0) {
                for (size_t i = 0; i < ext.n; i++) {
                        uint64_t s = ext.v[i].start, l = ext.v[i].len;
                        if (s >= size)
                                break;
                        l = MIN(l, size - s);
                        if ((r = lb_extents_add(used, start + s, l)) < 0)
                                break;
                        *used_bytes += l;
                }
                lb_extents_free(&ext);
                return r;
        }
        lb_extents_free(&ext);
        if (r == -ENOMEM)
                return r;
        *all_blocks = true;
        if (r == -ENOTSUP || r == -EOPNOTSUPP) {
                if (fs->type[0])
                        snprintf(note, note_len, "all blocks: no used-block reader for %s", fs->type);
                else
                        snprintf(note, note_len, "all blocks: no filesystem recognised");
        } else {
                snprintf(note, note_len, "all blocks: %s could not be mapped (%s)", fs->type[0] ? fs->type : "filesystem",
                         lb_error_get() ? lb_error_get() : strerror(-r));
                lb_warn("%s: %s %s", path, what, note + strlen("all blocks: "));
        }
        lb_error_clear();
        *used_bytes += size;
        return lb_extents_add(used, start, size);
}

static int cmp_part(const void *a, const void *b)
{
        const struct lb_partition *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

static int scan_table(struct fdisk_context *cxt, int fd, const char *path, struct lb_disk_layout *l,
                      struct lb_extents *used)
{
        struct fdisk_table *tb = NULL;
        char *id = NULL;
        int r = fdisk_get_partitions(cxt, &tb);
        if (r < 0)
                return r;
        uint64_t ss = l->sector_size;
        if (fdisk_get_disklabel_id(cxt, &id) == 0 && id)
                snprintf(l->id, sizeof(l->id), "%s", id);
        free(id);
        l->first_lba = fdisk_get_first_lba(cxt);
        l->last_lba = fdisk_get_last_lba(cxt);
        size_t n = fdisk_table_get_nents(tb);
        l->parts = calloc(n ? n : 1, sizeof(*l->parts));
        if (!l->parts) {
                fdisk_unref_table(tb);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                struct fdisk_partition *pa = fdisk_table_get_partition(tb, i);
                if (!pa || !fdisk_partition_is_used(pa) || !fdisk_partition_has_partno(pa))
                        continue;
                struct lb_partition *p = &l->parts[l->nparts];
                p->number = (unsigned)fdisk_partition_get_partno(pa) + 1;
                p->start = (uint64_t)fdisk_partition_get_start(pa) * ss;
                p->size = (uint64_t)fdisk_partition_get_size(pa) * ss;
                p->container = fdisk_partition_is_container(pa);
                struct fdisk_parttype *t = fdisk_partition_get_type(pa);
                if (t) {
                        const char *s = fdisk_parttype_get_string(t);
                        if (s)
                                snprintf(p->type, sizeof(p->type), "%s", s);
                        else
                                snprintf(p->type, sizeof(p->type), "0x%02x", fdisk_parttype_get_code(t));
                        /* the table's own list of known types has the names */
                        struct fdisk_parttype *known = fdisk_label_get_parttype_from_string(
                                fdisk_get_label(cxt, NULL), p->type);
                        const char *tn = known ? fdisk_parttype_get_name(known) : NULL;
                        if (!tn && !known && s == NULL)
                                known = fdisk_label_get_parttype_from_code(fdisk_get_label(cxt, NULL),
                                                                           fdisk_parttype_get_code(t));
                        if (!tn && known)
                                tn = fdisk_parttype_get_name(known);
                        if (tn)
                                snprintf(p->type_name, sizeof(p->type_name), "%s", tn);
                }
                if (fdisk_partition_get_uuid(pa))
                        snprintf(p->uuid, sizeof(p->uuid), "%s", fdisk_partition_get_uuid(pa));
                if (fdisk_partition_get_name(pa))
                        snprintf(p->name, sizeof(p->name), "%s", fdisk_partition_get_name(pa));
                if (p->start >= l->size) {
                        lb_warn("%s: partition %u starts beyond the end of the disk; ignoring it", path, p->number);
                        continue;
                }
                if (p->start + p->size > l->size) {
                        lb_warn("%s: partition %u ends beyond the end of the disk; imaging what exists", path, p->number);
                        p->size = l->size - p->start;
                }
                l->nparts++;
        }
        fdisk_unref_table(tb);
        qsort(l->parts, l->nparts, sizeof(*l->parts), cmp_part);

        /* Gaps between partitions (tables, boot code, GRUB's core.img, EBRs in
         * an extended partition) are always stored; each partition holds what
         * its filesystem uses. */
        uint64_t cursor = 0;
        for (size_t i = 0; i < l->nparts; i++) {
                struct lb_partition *p = &l->parts[i];
                if (p->container)
                        continue;
                if (p->start > cursor) {
                        if ((r = lb_extents_add(used, cursor, p->start - cursor)) < 0)
                                return r;
                        l->used_bytes += p->start - cursor;
                }
                char what[32];
                snprintf(what, sizeof(what), "partition %u:", p->number);
                uint64_t before = p->used_bytes;
                r = map_volume(fd, path, what, p->start, p->size, &p->fs, &p->all_blocks, p->note, sizeof(p->note),
                               &p->used_bytes, used);
                if (r < 0)
                        return r;
                l->used_bytes += p->used_bytes - before;
                cursor = MAX(cursor, p->start + p->size);
        }
        if (cursor < l->size) {
                if ((r = lb_extents_add(used, cursor, l->size - cursor)) < 0)
                        return r;
                l->used_bytes += l->size - cursor;
        }
        return 0;
}

static bool has_protective_entry(const struct lb_disk_layout *l)
{
        for (size_t i = 0; i < l->nparts; i++)
                if (!strcmp(l->parts[i].type, "0xee"))
                        return true;
        return false;
}

int lb_disk_scan(int fd, const char *path, uint64_t size, struct lb_disk_layout *l, struct lb_extents *used)
{
        memset(l, 0, sizeof(*l));
        l->size = size;
        l->sector_size = 512;
        struct fdisk_context *cxt = fdisk_new_context();
        if (!cxt)
                return -ENOMEM;
        fdisk_set_ask(cxt, ask_cb, (void *)path);
        int r = fdisk_assign_device_by_fd(cxt, fd, path, 1 /* read-only */);
        if (r == 0) {
                l->sector_size = (uint32_t)fdisk_get_sector_size(cxt);
                if (fdisk_has_label(cxt)) {
                        const char *name = fdisk_label_get_name(fdisk_get_label(cxt, NULL));
                        if (name && (!strcmp(name, "gpt") || !strcmp(name, "dos"))) {
                                snprintf(l->table, sizeof(l->table), "%s", name);
                                r = scan_table(cxt, fd, path, l, used);
                                fdisk_unref_context(cxt);
                                if (r < 0) {
                                        lb_disk_layout_done(l);
                                        return r;
                                }
                                if (!strcmp(name, "dos") && has_protective_entry(l)) {
                                        /* Only the protective MBR of a GPT disk is left. */
                                        lb_warn("%s: its GPT is damaged beyond repair (both headers unreadable, only "
                                                "the protective MBR is left): imaging the whole disk as raw data", path);
                                        lb_disk_layout_done(l);
                                        lb_extents_free(used);
                                        memset(l, 0, sizeof(*l));
                                        l->size = size;
                                        l->sector_size = 512;
                                        l->all_blocks = true;
                                        snprintf(l->note, sizeof(l->note), "all blocks: damaged GPT (raw image)");
                                        l->used_bytes = size;
                                        return lb_extents_add(used, 0, size);
                                }
                                return 0;
                        }
                        lb_warn("%s: %s partition tables are not understood; imaging the whole disk", path,
                                name ? name : "unknown");
                }
        } else {
                lb_warn("%s: cannot read a partition table (%s); imaging it as one volume", path, strerror(-r));
        }
        fdisk_unref_context(cxt);
        /* A single volume: a partition, or a filesystem image. */
        return map_volume(fd, path, "volume:", 0, size, &l->fs, &l->all_blocks, l->note, sizeof(l->note),
                          &l->used_bytes, used);
}

/* While fixing, libfdisk's "will be corrected by write" is what we want;
 * any warning means the GPT on the target needs rewriting. */
static int fix_ask_cb(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data)
{
        (void)cxt;
        int t = fdisk_ask_get_type(ask);
        if (t == FDISK_ASKTYPE_WARN || t == FDISK_ASKTYPE_WARNX) {
                *(bool *)data = true;
                return 0;
        }
        return t == FDISK_ASKTYPE_INFO ? 0 : -EINVAL;
}

int lb_disk_relocate_gpt(int fd, const char *path, bool always)
{
        struct fdisk_context *cxt = fdisk_new_context();
        bool warned = false;
        if (!cxt)
                return -ENOMEM;
        fdisk_set_ask(cxt, fix_ask_cb, &warned);
        int r = fdisk_assign_device_by_fd(cxt, fd, path, 0);
        if (r == 0 && fdisk_is_label(cxt, GPT) && (always || warned)) {
                /* Rewriting a GPT places the backup at the end of the device
                 * and extends the usable area (as sfdisk --relocate does). */
                fdisk_gpt_enable_minimize(fdisk_get_label(cxt, NULL), 0);
                fdisk_label_set_changed(fdisk_get_label(cxt, NULL), 1);
                r = fdisk_write_disklabel(cxt);
        }
        fdisk_unref_context(cxt);
        if (r < 0)
                return lb_error_set(r, "cannot move the backup GPT of %s to the end of the disk: %s", path,
                                    strerror(-r));
        return 0;
}

struct lb_partition *lb_disk_partition_at(struct lb_disk_layout *l, uint64_t off)
{
        for (size_t i = 0; i < l->nparts; i++) /* sorted by start; few entries */
                if (!l->parts[i].container && off >= l->parts[i].start && off < l->parts[i].start + l->parts[i].size)
                        return &l->parts[i];
        return NULL;
}

void lb_disk_layout_done(struct lb_disk_layout *l)
{
        free(l->parts);
        l->parts = NULL;
        l->nparts = 0;
}

static json_object *fs_to_json(const struct lb_fs_info *fs, bool all_blocks, const char *note, uint64_t used)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string(fs->type));
        json_object_object_add(o, "label", json_object_new_string(fs->label));
        json_object_object_add(o, "uuid", json_object_new_string(fs->uuid));
        json_object_object_add(o, "block_size", json_object_new_int64((int64_t)fs->block_size));
        json_object_object_add(o, "fs_size", json_object_new_int64((int64_t)fs->total_bytes));
        json_object_object_add(o, "used_bytes", json_object_new_int64((int64_t)used));
        json_object_object_add(o, "all_blocks", json_object_new_boolean(all_blocks));
        if (note[0])
                json_object_object_add(o, "note", json_object_new_string(note));
        return o;
}

json_object *lb_disk_layout_to_json(const struct lb_disk_layout *l)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "table", json_object_new_string(l->table));
        json_object_object_add(o, "id", json_object_new_string(l->id));
        if (l->ident.model[0])
                json_object_object_add(o, "model", json_object_new_string(l->ident.model));
        if (l->ident.serial[0])
                json_object_object_add(o, "serial", json_object_new_string(l->ident.serial));
        if (l->ident.wwid[0])
                json_object_object_add(o, "wwid", json_object_new_string(l->ident.wwid));
        json_object_object_add(o, "sector_size", json_object_new_int64(l->sector_size));
        json_object_object_add(o, "size", json_object_new_int64((int64_t)l->size));
        json_object_object_add(o, "used_bytes", json_object_new_int64((int64_t)l->used_bytes));
        if (!l->table[0]) {
                json_object_object_add(o, "filesystem", fs_to_json(&l->fs, l->all_blocks, l->note, l->used_bytes));
                return o;
        }
        json_object_object_add(o, "first_lba", json_object_new_int64((int64_t)l->first_lba));
        json_object_object_add(o, "last_lba", json_object_new_int64((int64_t)l->last_lba));
        json_object *parts = json_object_new_array();
        for (size_t i = 0; i < l->nparts; i++) {
                const struct lb_partition *p = &l->parts[i];
                json_object *j = json_object_new_object();
                json_object_object_add(j, "number", json_object_new_int((int)p->number));
                json_object_object_add(j, "start", json_object_new_int64((int64_t)p->start));
                json_object_object_add(j, "size", json_object_new_int64((int64_t)p->size));
                json_object_object_add(j, "type", json_object_new_string(p->type));
                json_object_object_add(j, "type_name", json_object_new_string(p->type_name));
                json_object_object_add(j, "uuid", json_object_new_string(p->uuid));
                json_object_object_add(j, "name", json_object_new_string(p->name));
                json_object_object_add(j, "container", json_object_new_boolean(p->container));
                if (!p->container) {
                        json_object_object_add(j, "filesystem", fs_to_json(&p->fs, p->all_blocks, p->note, p->used_bytes));
                        json_object_object_add(j, "stored_bytes", json_object_new_int64((int64_t)p->stored_bytes));
                }
                json_object_array_add(parts, j);
        }
        json_object_object_add(o, "partitions", parts);
        return o;
}

static json_object *get(json_object *o, const char *k, json_type t)
{
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
                return NULL;
        return v;
}

static void get_str(json_object *o, const char *k, char *out, size_t n)
{
        json_object *v = get(o, k, json_type_string);
        snprintf(out, n, "%s", v ? json_object_get_string(v) : "");
}

static uint64_t get_u64(json_object *o, const char *k, bool *ok)
{
        json_object *v = get(o, k, json_type_int);
        if (!v || json_object_get_int64(v) < 0) {
                *ok = false;
                return 0;
        }
        return (uint64_t)json_object_get_int64(v);
}

static void fs_from_json(json_object *o, struct lb_fs_info *fs, bool *all_blocks, char *note, size_t note_len,
                         uint64_t *used)
{
        bool ok = true;
        json_object *b;
        if (!o)
                return;
        get_str(o, "type", fs->type, sizeof(fs->type));
        get_str(o, "label", fs->label, sizeof(fs->label));
        get_str(o, "uuid", fs->uuid, sizeof(fs->uuid));
        get_str(o, "note", note, note_len);
        fs->block_size = get_u64(o, "block_size", &ok);
        fs->total_bytes = get_u64(o, "fs_size", &ok);
        *used = get_u64(o, "used_bytes", &ok);
        fs->used_bytes = *used;
        b = get(o, "all_blocks", json_type_boolean);
        *all_blocks = b && json_object_get_boolean(b);
}

int lb_disk_layout_from_json(json_object *o, struct lb_disk_layout *l)
{
        bool ok = true;
        memset(l, 0, sizeof(*l));
        if (!o)
                return -EBADMSG;
        get_str(o, "table", l->table, sizeof(l->table));
        get_str(o, "id", l->id, sizeof(l->id));
        get_str(o, "model", l->ident.model, sizeof(l->ident.model));
        get_str(o, "serial", l->ident.serial, sizeof(l->ident.serial));
        get_str(o, "wwid", l->ident.wwid, sizeof(l->ident.wwid));
        uint64_t ss = get_u64(o, "sector_size", &ok);
        l->size = get_u64(o, "size", &ok);
        l->used_bytes = get_u64(o, "used_bytes", &ok);
        if (!ok || (ss != 512 && ss != 1024 && ss != 2048 && ss != 4096))
                return -EBADMSG;
        l->sector_size = (uint32_t)ss;
        if (!l->table[0]) {
                fs_from_json(get(o, "filesystem", json_type_object), &l->fs, &l->all_blocks, l->note, sizeof(l->note),
                             &l->used_bytes);
                return 0;
        }
        if (strcmp(l->table, "gpt") && strcmp(l->table, "dos"))
                return -EBADMSG;
        l->first_lba = get_u64(o, "first_lba", &ok);
        l->last_lba = get_u64(o, "last_lba", &ok);
        json_object *parts = get(o, "partitions", json_type_array);
        if (!ok || !parts)
                return -EBADMSG;
        size_t n = json_object_array_length(parts);
        l->parts = calloc(n ? n : 1, sizeof(*l->parts));
        if (!l->parts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *j = json_object_array_get_idx(parts, i);
                struct lb_partition *p = &l->parts[i];
                json_object *c = get(j, "container", json_type_boolean);
                uint64_t num = get_u64(j, "number", &ok);
                p->start = get_u64(j, "start", &ok);
                p->size = get_u64(j, "size", &ok);
                if (!ok || num == 0 || num > 4096 || p->start > l->size || p->size > l->size - p->start) {
                        lb_disk_layout_done(l);
                        return -EBADMSG;
                }
                p->number = (unsigned)num;
                p->container = c && json_object_get_boolean(c);
                get_str(j, "type", p->type, sizeof(p->type));
                get_str(j, "type_name", p->type_name, sizeof(p->type_name));
                get_str(j, "uuid", p->uuid, sizeof(p->uuid));
                get_str(j, "name", p->name, sizeof(p->name));
                fs_from_json(get(j, "filesystem", json_type_object), &p->fs, &p->all_blocks, p->note, sizeof(p->note),
                             &p->used_bytes);
                json_object *sb = get(j, "stored_bytes", json_type_int);
                p->stored_bytes = sb && json_object_get_int64(sb) > 0 ? (uint64_t)json_object_get_int64(sb) : 0;
                l->nparts++;
        }
        return 0;
}
