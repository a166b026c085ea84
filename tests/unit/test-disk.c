/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The source disk's identity: read from a sysfs-like directory tree (virtio,
 * NVMe, SCSI/ATA with a VPD page, a partition, nothing), and kept in the disk
 * object of the manifest (written only when known; older manifests without
 * it still load). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "disk.h"
#include "source.h"
#include "testutil.h"
#include "util.h"

static char *tmp;

/* DIR/NAME (under tmp) holds DATA of N bytes; directories are made. */
static void put(const char *dir, const char *name, const void *data, size_t n)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s/%s", tmp, dir, name);
        char *slash = strrchr(path, '/');
        *slash = 0;
        if (mkdir_p(path, 0755) < 0)
                bail_out("mkdir_p %s", path);
        *slash = '/';
        if (test_write_file(path, data, n) < 0)
                bail_out("cannot write %s", path);
}

static void puts_(const char *dir, const char *name, const char *text)
{
        put(dir, name, text, strlen(text));
}

static void read_ident(const char *dir, struct lb_disk_identity *id)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", tmp, dir);
        lb_disk_identity_read(path, id);
}

static void test_sysfs(void)
{
        struct lb_disk_identity id;

        /* virtio: the serial on the disk itself, nothing else */
        puts_("vda", "serial", "1816632422151492\n");
        puts_("vda", "size", "2048\n");
        read_ident("vda", &id);
        is_str(id.serial, "1816632422151492", "virtio: serial");
        is_str(id.model, "", "virtio: no model");
        is_str(id.wwid, "", "virtio: no wwid");

        /* NVMe: model and serial of the controller, wwid of the namespace */
        puts_("nvme0n1", "device/model", "Samsung SSD 970 EVO Plus 1TB           \n");
        puts_("nvme0n1", "device/serial", "S4EWNX0R123456A     \n");
        puts_("nvme0n1", "wwid", "eui.0025385b91b12345\n");
        read_ident("nvme0n1", &id);
        is_str(id.model, "Samsung SSD 970 EVO Plus 1TB", "NVMe: model, blanks trimmed");
        is_str(id.serial, "S4EWNX0R123456A", "NVMe: serial");
        is_str(id.wwid, "eui.0025385b91b12345", "NVMe: wwid of the namespace");

        /* SCSI/ATA: serial from VPD page 0x80 (binary header), wwid of the device */
        static const char pg80[] = "\0\x80\0\x14    WD-WCC4N1234567";
        puts_("sda", "device/model", "WDC WD40EFRX-68N\n");
        put("sda", "device/vpd_pg80", pg80, sizeof(pg80) - 1);
        puts_("sda", "device/wwid", "naa.50014ee2b5a1c2d3\n");
        read_ident("sda", &id);
        is_str(id.model, "WDC WD40EFRX-68N", "SCSI: model");
        is_str(id.serial, "WD-WCC4N1234567", "SCSI: serial from vpd_pg80");
        is_str(id.wwid, "naa.50014ee2b5a1c2d3", "SCSI: wwid");

        /* a partition has no identity of its own, even with the files there */
        puts_("sda/sda1", "partition", "1\n");
        puts_("sda/sda1", "serial", "nope\n");
        read_ident("sda/sda1", &id);
        ok(!id.model[0] && !id.serial[0] && !id.wwid[0], "partition: nothing");

        /* a loop device, and a directory that does not exist */
        puts_("loop0", "size", "0\n");
        read_ident("loop0", &id);
        ok(!id.model[0] && !id.serial[0] && !id.wwid[0], "loop device: nothing");
        read_ident("absent", &id);
        ok(!id.model[0] && !id.serial[0] && !id.wwid[0], "no such directory: nothing");

        /* control characters inside are replaced, not kept */
        puts_("sdb", "serial", "AB\001CD\n");
        read_ident("sdb", &id);
        is_str(id.serial, "AB?CD", "control characters replaced");
}

static const char old_layout[] = "{\"table\":\"gpt\",\"id\":\"6A1F0C7E-2B3D-4E5F-8A9B-0C1D2E3F4A5B\","
                                 "\"sector_size\":512,\"size\":1048576,\"used_bytes\":4096,"
                                 "\"first_lba\":34,\"last_lba\":2014,\"partitions\":[]}";

static void test_json(void)
{
        struct lb_disk_layout l = { .sector_size = 512, .size = 1 << 20 }, back;
        json_object *o, *v;

        snprintf(l.table, sizeof(l.table), "gpt");
        snprintf(l.id, sizeof(l.id), "6A1F0C7E-2B3D-4E5F-8A9B-0C1D2E3F4A5B");
        o = lb_disk_layout_to_json(&l);
        ok(!json_object_object_get_ex(o, "serial", &v) && !json_object_object_get_ex(o, "model", &v) &&
                   !json_object_object_get_ex(o, "wwid", &v),
           "unknown identity: no model, serial or wwid fields");
        json_object_put(o);

        snprintf(l.ident.model, sizeof(l.ident.model), "QEMU HARDDISK");
        snprintf(l.ident.serial, sizeof(l.ident.serial), "LB-0001");
        snprintf(l.ident.wwid, sizeof(l.ident.wwid), "naa.5000c500a1b2c3d4");
        o = lb_disk_layout_to_json(&l);
        is_int(lb_disk_layout_from_json(o, &back), 0, "layout with identity: parses");
        is_str(back.ident.model, "QEMU HARDDISK", "model kept");
        is_str(back.ident.serial, "LB-0001", "serial kept");
        is_str(back.ident.wwid, "naa.5000c500a1b2c3d4", "wwid kept");
        is_str(back.id, l.id, "partition table id kept");
        lb_disk_layout_done(&back);
        json_object_put(o);

        o = json_tokener_parse(old_layout);
        is_int(lb_disk_layout_from_json(o, &back), 0, "a layout written before identities: parses");
        ok(!back.ident.model[0] && !back.ident.serial[0] && !back.ident.wwid[0], "and has no identity");
        lb_disk_layout_done(&back);
        json_object_put(o);

        /* a wrong type is ignored like an absent field */
        o = json_tokener_parse(old_layout);
        json_object_object_add(o, "serial", json_object_new_int(7));
        is_int(lb_disk_layout_from_json(o, &back), 0, "serial of the wrong type: still parses");
        is_str(back.ident.serial, "", "and is taken as unknown");
        lb_disk_layout_done(&back);
        json_object_put(o);
}

int main(void)
{
        tmp = test_mkdtemp("disk");
        test_sysfs();
        test_json();
        test_rm_rf(tmp);
        free(tmp);
        return done_testing();
}
