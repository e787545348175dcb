/*
 * A minimal C host for equifx: lists the nodes, runs Exposure on a small
 * bottom-up RGBA8 frame and prints the result as hex, and shows how errors
 * come back. Build (from the repository root, after `cargo build -p equifx-ffi`):
 *
 *   cc -std=c99 -Wall -Wextra -Iinclude examples/c_host/main.c \
 *      -Ltarget/debug -lequifx_ffi -Wl,-rpath,target/debug -o c_host
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "equifx.h"

#define W 4
#define H 2

static int check(equifx_status st, const char *what) {
    if (st != EQUIFX_STATUS_OK) {
        fprintf(stderr, "%s failed (%d): %s\n", what, (int)st, equifx_last_error());
        return 1;
    }
    return 0;
}

int main(void) {
    if (equifx_version_number() != EQUIFX_VERSION_NUMBER) {
        fprintf(stderr, "header is for %d, library is %u\n", EQUIFX_VERSION_NUMBER, equifx_version_number());
        return 1;
    }
    const equifx_entry *entry = equifx_get_entry(EQUIFX_ABI_VERSION);
    if (!entry || entry->abi_version != EQUIFX_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch: %s\n", equifx_last_error());
        return 1;
    }

    for (uint32_t i = 0; i < equifx_node_count(); i++) {
        equifx_node_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (check(equifx_node_get_info(i, &info), "equifx_node_get_info")) return 1;
        printf("node %s (%s), %u params\n", info.id, info.label, info.param_count);
        for (uint32_t j = 0; j < info.param_count; j++) {
            equifx_param_info p;
            memset(&p, 0, sizeof p);
            p.struct_size = sizeof p;
            if (check(equifx_param_get_info(i, j, &p), "equifx_param_get_info")) return 1;
            printf("  param %s kind=%d range=[%g, %g] default=%g\n", p.id, (int)p.kind, p.min, p.max, p.default_number);
        }
    }

    equifx_instance *inst = NULL;
    if (check(equifx_instance_new("org.equifx.Exposure", &inst), "equifx_instance_new")) return 1;
    if (check(equifx_instance_set_float(inst, "exposure", 1.0), "set exposure")) return 1;

    /* A wrong call: the status and message tell what is wrong, nothing crashes. */
    equifx_status bad = equifx_instance_set_float(inst, "exposure", INFINITY);
    printf("setting inf -> status %d: %s\n", (int)bad, equifx_last_error());
    if (bad != EQUIFX_STATUS_INVALID_PARAM_VALUE) return 1;
    if (equifx_instance_render(inst, NULL, 1, NULL, 0, NULL) != EQUIFX_STATUS_NULL_ARGUMENT) return 1;

    uint8_t src[W * H * 4], dst[W * H * 4];
    for (int i = 0; i < W * H * 4; i++) src[i] = (uint8_t)(i * 7 + 3);
    equifx_frame in, out;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    in.width = W;
    in.height = H;
    in.pixel_format = EQUIFX_PIXEL_FORMAT_RGBA_U8;
    in.colour_space = EQUIFX_COLOUR_SPACE_SRGB;
    in.alpha_mode = EQUIFX_ALPHA_MODE_STRAIGHT;
    in.row_bytes = -(intptr_t)(W * 4); /* bottom-up, as OpenFX hosts hand frames */
    in.data = src;
    in.data_len = sizeof src;
    out = in;
    out.data = dst;
    out.data_len = sizeof dst;
    if (check(entry->instance_render(inst, &in, 1, &out, 0, NULL), "render")) return 1;
    equifx_instance_free(inst);

    printf("output ");
    for (int i = 0; i < W * H * 4; i++) printf("%02x", dst[i]);
    printf("\n");
    return 0;
}
