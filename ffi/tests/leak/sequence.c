/*
 * An ABI sequence for the leak check (ffi/tests/leak_check.rs): every node is
 * created, given valid and invalid parameters, rendered with and without an
 * input, and freed, three times over; failing calls leave error messages
 * behind, and bundles are described. Run under LeakSanitizer, the process
 * must end without a definite leak.
 */
#include <stdio.h>
#include <string.h>

#include "equifx.h"

#define W 16
#define H 16

int main(void) {
    static uint8_t src[W * H * 4], dst[W * H * 4];
    for (int i = 0; i < W * H * 4; i++) src[i] = (uint8_t)(i * 37 + 11);
    equifx_frame in, out;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    in.width = W;
    in.height = H;
    in.pixel_format = EQUIFX_PIXEL_FORMAT_RGBA_U8;
    in.colour_space = EQUIFX_COLOUR_SPACE_SRGB;
    in.alpha_mode = EQUIFX_ALPHA_MODE_STRAIGHT;
    in.row_bytes = W * 4;
    out = in;
    in.data = src;
    in.data_len = sizeof src;
    out.data = dst;
    out.data_len = sizeof dst;

    int ok = 0, refused = 0;
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < equifx_node_count(); i++) {
            equifx_node_info info;
            memset(&info, 0, sizeof info);
            info.struct_size = sizeof info;
            if (equifx_node_get_info(i, &info) != EQUIFX_STATUS_OK) return 2;
            equifx_instance *inst = NULL;
            if (equifx_instance_new(info.id, &inst) != EQUIFX_STATUS_OK) return 3;
            equifx_status st[] = {
                equifx_instance_set_float(inst, "strength", 0.5),
                equifx_instance_set_float(inst, "exposure", 1.0),
                equifx_instance_set_text(inst, "target", "no-such-domain"),
                equifx_instance_set_text(inst, "target", "oil"),
                equifx_instance_set_text(inst, "source", "photo"),
                equifx_instance_set_float(inst, "no_such_param", 1.0),
                equifx_instance_render(inst, &in, 1, &out, round, NULL),
                equifx_instance_render(inst, NULL, 0, &out, round, NULL),
            };
            for (size_t k = 0; k < sizeof st / sizeof st[0]; k++) {
                if (st[k] == EQUIFX_STATUS_OK) ok++;
                else refused++;
                if (st[k] == EQUIFX_STATUS_PANIC) return 4;
            }
            equifx_instance_free(inst);
        }
        const char *json = NULL;
        if (equifx_model_info(NULL, &json) != EQUIFX_STATUS_OK || !json) return 5;
        if (equifx_model_info("/nonexistent/bundle", &json) == EQUIFX_STATUS_OK) return 6;
        equifx_node_info none;
        memset(&none, 0, sizeof none);
        none.struct_size = sizeof none;
        if (equifx_node_get_info(9999, &none) == EQUIFX_STATUS_OK) return 7;
    }
    printf("%d calls accepted, %d refused\n", ok, refused);
    return ok > 0 && refused > 0 ? 0 : 8;
}
