/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ext2/3/4: the block (cluster, with bigalloc) allocation bitmap, read with
 * libext2fs through a read-only I/O manager that is confined to the volume. */
#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

struct vol {
        int fd;
        uint64_t offset, size;
};

static struct struct_io_manager vol_manager;

static errcode_t vol_open(const char *name, int flags, io_channel *ret)
{
        struct vol v;
        int fd, n = 0;
        unsigned long long off, size;

        if (flags & IO_FLAG_RW)
                return EROFS;
        if (sscanf(name, "lifeboat:%d:%llu:%llu%n", &fd, &off, &size, &n) != 3 || name[n] != '\0')
                return EINVAL;
        v = (struct vol) { fd, off, size };

        io_channel c = calloc(1, sizeof(*c));
        struct vol *p = memdup(&v, sizeof(v));
        char *s = strdup(name);
        if (!c || !p || !s) {
                free(c);
                free(p);
                free(s);
                return ENOMEM;
        }
        c->magic = EXT2_ET_MAGIC_IO_CHANNEL;
        c->manager = &vol_manager;
        c->name = s;
        c->block_size = 1024;
        c->refcount = 1;
        c->private_data = p;
        *ret = c;
        return 0;
}

static errcode_t vol_close(io_channel c)
{
        if (--c->refcount > 0)
                return 0;
        free(c->private_data);
        free(c->name);
        free(c);
        return 0;
}

static errcode_t vol_set_blksize(io_channel c, int blksize)
{
        if (blksize <= 0)
                return EINVAL;
        c->block_size = blksize;
        return 0;
}

static errcode_t vol_read_blk64(io_channel c, unsigned long long block, int count, void *data)
{
        const struct vol *v = c->private_data;
        uint64_t n = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)c->block_size;
        uint64_t pos = (uint64_t)block * (uint64_t)c->block_size;

        if (c->block_size > 0 && pos / (uint64_t)c->block_size != block)
                return EXT2_ET_LLSEEK_FAILED;
        if (pos > v->size || n > v->size - pos || n > SIZE_MAX)
                return EXT2_ET_SHORT_READ;
        int r = read_full_at(v->fd, data, (size_t)n, v->offset + pos);
        if (r == -EIO)
                return EXT2_ET_SHORT_READ;
        return r < 0 ? (errcode_t)-r : 0;
}

static errcode_t vol_read_blk(io_channel c, unsigned long block, int count, void *data)
{
        return vol_read_blk64(c, block, count, data);
}

static errcode_t vol_write_blk64(io_channel c, unsigned long long block, int count, const void *data)
{
        return EROFS;
}

static errcode_t vol_write_blk(io_channel c, unsigned long block, int count, const void *data)
{
        return EROFS;
}

static errcode_t vol_write_byte(io_channel c, unsigned long offset, int count, const void *data)
{
        return EROFS;
}

static errcode_t vol_flush(io_channel c)
{
        return 0;
}

static errcode_t vol_set_option(io_channel c, const char *option, const char *arg)
{
        return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager vol_manager = {
        .magic = EXT2_ET_MAGIC_IO_MANAGER,
        .name = "lifeboat read-only volume",
        .open = vol_open,
        .close = vol_close,
        .set_blksize = vol_set_blksize,
        .read_blk = vol_read_blk,
        .write_blk = vol_write_blk,
        .flush = vol_flush,
        .write_byte = vol_write_byte,
        .set_option = vol_set_option,
        .read_blk64 = vol_read_blk64,
        .write_blk64 = vol_write_blk64,
};

static int ext_errno(errcode_t err)
{
        if (err > 0 && err < 4096)
                return -(int)err; /* a plain errno from the I/O layer */
        if (err == EXT2_ET_UNSUPP_FEATURE || err == EXT2_ET_RO_UNSUPP_FEATURE || err == EXT2_ET_UNIMPLEMENTED)
                return -EOPNOTSUPP;
        if (err == EXT2_ET_NO_MEMORY)
                return -ENOMEM;
        return -EUCLEAN;
}

static void ext_init_errors(void)
{
        initialize_ext2_error_table();
}

static void ext2fs_close_freep(ext2_filsys *fs)
{
        if (*fs)
                ext2fs_close_free(fs);
}

static int ext_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        _cleanup_(ext2fs_close_freep) ext2_filsys fs = NULL;
        char name[96];
        errcode_t err;
        int r;

        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, ext_init_errors); /* so error_message() knows libext2fs codes */

        lb_fs_info_init(info, "ext2");
        snprintf(name, sizeof(name), "lifeboat:%d:%" PRIu64 ":%" PRIu64, fd, offset, size);

        err = ext2fs_open2(name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0, &vol_manager, &fs);
        if (err) {
                fs = NULL;
                return lb_error_set(ext_errno(err), "cannot open ext2/3/4 filesystem: %s", error_message(err));
        }
        struct ext2_super_block *sb = fs->super;

        if (ext2fs_has_feature_journal_dev(sb))
                return lb_error_set(-EOPNOTSUPP, "volume is an external ext3/4 journal, not a filesystem");
        if (ext2fs_has_feature_journal_needs_recovery(sb))
                return lb_error_set(-EUCLEAN, "ext2/3/4 journal needs recovery (filesystem mounted or not cleanly unmounted); "
                                    "its allocation bitmaps cannot be trusted");

        uint64_t bs = fs->blocksize, blocks = ext2fs_blocks_count(sb);
        if (bs < 1024 || bs > 65536 || blocks == 0 || blocks > UINT64_MAX / bs)
                return lb_error_set(-EUCLEAN, "bad ext2/3/4 geometry");
        if (blocks * bs > size)
                return lb_error_set(-EUCLEAN, "ext2/3/4 filesystem (%" PRIu64 " bytes) larger than its volume (%" PRIu64 " bytes)",
                                    blocks * bs, size);
        if (sb->s_first_data_block >= blocks)
                return lb_error_set(-EUCLEAN, "bad ext2/3/4 first data block");

        info->block_size = EXT2_CLUSTER_SIZE(sb);
        info->total_bytes = blocks * bs;
        if (ext2fs_has_feature_extents(sb) || ext2fs_has_feature_flex_bg(sb) || ext2fs_has_feature_64bit(sb) ||
            ext2fs_has_feature_huge_file(sb) || ext2fs_has_feature_metadata_csum(sb) || ext2fs_has_feature_bigalloc(sb))
                strcpy(info->type, "ext4");
        else if (ext2fs_has_feature_journal(sb))
                strcpy(info->type, "ext3");
        snprintf(info->label, sizeof(info->label), "%.*s", (int)sizeof(sb->s_volume_name), (const char *)sb->s_volume_name);
        lb_fs_uuid_format(sb->s_uuid, info->uuid, sizeof(info->uuid));

        err = ext2fs_read_block_bitmap(fs);
        if (err)
                return lb_error_set(ext_errno(err), "cannot read ext2/3/4 block bitmap: %s", error_message(err));

        /* Block 0 holds the boot sector (and, with 1 KiB blocks, is outside
         * the bitmap); keep it whatever the bitmap says. */
        r = lb_extents_add(ret, 0, bs);
        if (r < 0)
                return r;

        blk64_t last = blocks - 1, b = sb->s_first_data_block;
        while (b <= last) {
                blk64_t s, e;
                err = ext2fs_find_first_set_block_bitmap2(fs->block_map, b, last, &s);
                if (err == ENOENT)
                        break;
                if (err)
                        return lb_error_set(-EUCLEAN, "cannot scan ext2/3/4 block bitmap: %s", error_message(err));
                err = ext2fs_find_first_zero_block_bitmap2(fs->block_map, s, last, &e);
                if (err == ENOENT)
                        e = last + 1;
                else if (err)
                        return lb_error_set(-EUCLEAN, "cannot scan ext2/3/4 block bitmap: %s", error_message(err));
                if (e <= s) /* cannot happen; never loop forever */
                        return lb_error_set(-EUCLEAN, "ext2/3/4 block bitmap scan did not advance");
                e = MIN(e, last + 1);
                r = lb_extents_add(ret, s * bs, (e - s) * bs);
                if (r < 0)
                        return r;
                b = e;
        }

        info->used_bytes = lb_extents_total(ret);
        return 0;
}

static const char *const ext_types[] = { "ext2", "ext3", "ext4", "ext4dev", NULL };

const struct lb_fs_ops lb_fs_ext = {
        .name = "ext4",
        .blkid_types = ext_types,
        .used = ext_used,
};
