/*
 * The C-variadic entry points of the test OpenFX host. Stable Rust can call
 * variadic functions but not define them, so these few live in C: each one
 * unpacks its arguments with va_arg, using the parameter's type as the host
 * knows it, and forwards them to a plain (non-variadic) Rust callback.
 * Compiled by the test into a shared object with the system C compiler.
 */
#include <stdarg.h>
#include <stdio.h>

typedef int OfxStatus;

/* Value shapes a parameter can have: how paramGetValue / paramSetValue read their varargs. */
enum { SHAPE_DOUBLE = 0, SHAPE_INT = 1, SHAPE_STRING = 2 };

struct shim_callbacks {
    /* Shape and number of components (1..4) of a parameter; returns 0 if the handle is unknown. */
    int (*param_shape)(void *param, int *shape, int *count);
    /* Reads a value: outs[i] are double*, int* or char** per the shape. */
    OfxStatus (*param_get)(void *param, int has_time, double time, void **outs);
    /* Writes a value from the unpacked arguments. */
    OfxStatus (*param_set)(void *param, int has_time, double time, const double *d, const int *i, const char *s);
    /* Receives a formatted message. */
    OfxStatus (*message)(void *handle, const char *type, const char *id, const char *text, int persistent);
};

static struct shim_callbacks cb;

void shim_install(const struct shim_callbacks *c) { cb = *c; }

static OfxStatus get_value(void *param, int has_time, double time, va_list ap) {
    int shape = 0, count = 0;
    if (!cb.param_shape(param, &shape, &count) || count < 1 || count > 4) return 9; /* kOfxStatErrBadHandle */
    void *outs[4] = {0, 0, 0, 0};
    for (int k = 0; k < count; k++) outs[k] = va_arg(ap, void *);
    return cb.param_get(param, has_time, time, outs);
}

static OfxStatus set_value(void *param, int has_time, double time, va_list ap) {
    int shape = 0, count = 0;
    if (!cb.param_shape(param, &shape, &count) || count < 1 || count > 4) return 9;
    double d[4] = {0, 0, 0, 0};
    int i[4] = {0, 0, 0, 0};
    const char *s = 0;
    for (int k = 0; k < count; k++) {
        if (shape == SHAPE_DOUBLE) d[k] = va_arg(ap, double);
        else if (shape == SHAPE_INT) i[k] = va_arg(ap, int);
        else s = va_arg(ap, const char *);
    }
    return cb.param_set(param, has_time, time, d, i, s);
}

OfxStatus shim_param_get_value(void *param, ...) {
    va_list ap; va_start(ap, param);
    OfxStatus st = get_value(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus shim_param_get_value_at_time(void *param, double time, ...) {
    va_list ap; va_start(ap, time);
    OfxStatus st = get_value(param, 1, time, ap);
    va_end(ap);
    return st;
}

OfxStatus shim_param_set_value(void *param, ...) {
    va_list ap; va_start(ap, param);
    OfxStatus st = set_value(param, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus shim_param_set_value_at_time(void *param, double time, ...) {
    va_list ap; va_start(ap, time);
    OfxStatus st = set_value(param, 1, time, ap);
    va_end(ap);
    return st;
}

/* Derivatives and integrals of our constant-in-time parameters are not needed: unsupported. */
OfxStatus shim_param_get_derivative(void *param, double time, ...) { (void)param; (void)time; return 5; }
OfxStatus shim_param_get_integral(void *param, double t1, double t2, ...) { (void)param; (void)t1; (void)t2; return 5; }

static OfxStatus format_message(void *handle, const char *type, const char *id, const char *fmt, va_list ap, int persistent) {
    char text[4096];
    vsnprintf(text, sizeof text, fmt ? fmt : "", ap);
    return cb.message(handle, type, id, text, persistent);
}

OfxStatus shim_message(void *handle, const char *type, const char *id, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    OfxStatus st = format_message(handle, type, id, fmt, ap, 0);
    va_end(ap);
    return st;
}

OfxStatus shim_set_persistent_message(void *handle, const char *type, const char *id, const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    OfxStatus st = format_message(handle, type, id, fmt, ap, 1);
    va_end(ap);
    return st;
}
