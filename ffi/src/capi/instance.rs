//! Node instances: create, set parameters, render, free.

use std::ffi::c_char;
use std::sync::Arc;

use equifx::frame::{FrameMut, FrameRef};
use equifx::node::RenderContext;
use equifx::params::ParamValue;
use equifx::Instance;
use parking_lot::Mutex;

use super::callbacks::{equifx_callbacks, HostCallbacks, LogLevel};
use super::frame::equifx_frame;
use super::host_struct;
use super::status::equifx_status;
use crate::guard::FfiError;
use crate::host_bytes::input_views;

/// An instance of a node with its own parameter values. Opaque.
///
/// Thread safety: every function may be called on an instance from any
/// thread, at any time, including from a callback of a render of that same
/// instance, except `equifx_instance_free`, which no other call on the
/// instance may overlap. Renders of one instance may run concurrently. A
/// render uses the parameter values as they were when it started; setting a
/// parameter never waits for renders in flight and takes effect from the
/// next render.
pub struct equifx_instance {
    /// The current values. The lock is held only to take a snapshot or to
    /// replace a value, never while a node renders or host code runs; a set
    /// while renders hold the old snapshot copies it first.
    current: Mutex<Arc<Instance>>,
}

impl equifx_instance {
    /// The current values, for one render or read.
    fn snapshot(&self) -> Arc<Instance> {
        Arc::clone(&self.current.lock())
    }
}

fn instance<'a>(ptr: *const equifx_instance) -> Result<&'a equifx_instance, FfiError> {
    Ok(try_ref!(ptr, "instance"))
}

/// Creates an instance of node `node_id` (e.g. "org.equifx.Exposure") with
/// every parameter at its default, into `*instance_out`. The caller owns the
/// instance and frees it with `equifx_instance_free`.
#[no_mangle]
pub extern "C" fn equifx_instance_new(
    node_id: *const c_char,
    instance_out: *mut *mut equifx_instance,
) -> equifx_status {
    ffi_guard! {
        let id = try_str!(node_id, "node_id");
        if instance_out.is_null() {
            return Err(FfiError::null("instance_out"));
        }
        let inner = Instance::new(id)?;
        let boxed = Box::into_raw(Box::new(equifx_instance { current: Mutex::new(Arc::new(inner)) }));
        // SAFETY: checked non-null above; the caller passes a writable pointer slot.
        unsafe { instance_out.write(boxed) };
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}

/// Frees an instance. NULL is a no-op. No other call on it may be running
/// (in particular no render, nor a callback of one).
#[no_mangle]
pub extern "C" fn equifx_instance_free(instance: *mut equifx_instance) {
    ffi_guard! {
        if !instance.is_null() {
            // SAFETY: the pointer came from equifx_instance_new (Box::into_raw) and
            // the caller gives up ownership here.
            drop(unsafe { Box::from_raw(instance) });
        }
        Ok(())
    }
}

fn set(
    instance_ptr: *mut equifx_instance,
    name: *const c_char,
    value: ParamValue,
) -> Result<equifx_status, FfiError> {
    let inst = instance(instance_ptr)?;
    let name = try_str!(name, "name");
    let mut current = inst.current.lock();
    // Copies the values first only when a render still holds them.
    Arc::make_mut(&mut current).params_mut().set(name, value)?;
    Ok(equifx_status::EQUIFX_STATUS_OK)
}

/// Sets a float parameter. NaN, infinities and values outside the declared
/// range are refused with `EQUIFX_STATUS_INVALID_PARAM_VALUE`.
#[no_mangle]
pub extern "C" fn equifx_instance_set_float(
    instance: *mut equifx_instance,
    name: *const c_char,
    value: f64,
) -> equifx_status {
    ffi_guard! { set(instance, name, ParamValue::Float(value)) }
}

/// Sets an int or seed parameter.
#[no_mangle]
pub extern "C" fn equifx_instance_set_int(
    instance: *mut equifx_instance,
    name: *const c_char,
    value: i64,
) -> equifx_status {
    ffi_guard! { set(instance, name, ParamValue::Int(value)) }
}

/// Sets a bool parameter.
#[no_mangle]
pub extern "C" fn equifx_instance_set_bool(
    instance: *mut equifx_instance,
    name: *const c_char,
    value: bool,
) -> equifx_status {
    ffi_guard! { set(instance, name, ParamValue::Bool(value)) }
}

/// Sets a choice, path, domain or shares parameter from a NUL-terminated
/// UTF-8 string.
#[no_mangle]
pub extern "C" fn equifx_instance_set_text(
    instance: *mut equifx_instance,
    name: *const c_char,
    value: *const c_char,
) -> equifx_status {
    ffi_guard! {
        let v = try_str!(value, "value").to_string();
        set(instance, name, ParamValue::Text(v))
    }
}

/// Reads a float parameter into `*value_out`. Parameters of other kinds are
/// refused with `EQUIFX_STATUS_INVALID_PARAM_VALUE`.
#[no_mangle]
pub extern "C" fn equifx_instance_get_float(
    instance: *const equifx_instance,
    name: *const c_char,
    value_out: *mut f64,
) -> equifx_status {
    ffi_guard! {
        let inst = self::instance(instance)?;
        let name = try_str!(name, "name");
        if value_out.is_null() {
            return Err(FfiError::null("value_out"));
        }
        let snapshot = inst.snapshot();
        let params = snapshot.params();
        let v = match params.get(name)? {
            ParamValue::Float(v) => *v,
            _ => {
                let kind = params
                    .descriptors()
                    .iter()
                    .find(|p| p.id == name)
                    .map_or("non-float", |p| p.kind.name());
                return Err(FfiError::new(
                    equifx_status::EQUIFX_STATUS_INVALID_PARAM_VALUE,
                    format!(
                        "parameter '{name}' of {} is a {kind} parameter; \
                         equifx_instance_get_float reads float parameters only",
                        params.node_id()
                    ),
                ));
            }
        };
        // SAFETY: checked non-null above; the caller passes a writable double.
        unsafe { value_out.write(v) };
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}

/// Renders frame number `frame` of `instance`: `inputs` points to
/// `input_count` frames (one per node input; NULL when 0), and the result is
/// written into `output`, whose buffer the caller owns. Input and output may
/// share a buffer. The input frames of the array are `struct_size` bytes
/// apart, so all of them must have the same `struct_size`. `callbacks` may be
/// NULL. Every render, including one that only copies its input (a node at
/// settings that change nothing), reports progress up to 1 and stops with
/// `EQUIFX_STATUS_ABORTED` when `abort` returns true. On failure the output
/// buffer may hold partial results; never read it unless the status is OK.
#[no_mangle]
pub extern "C" fn equifx_instance_render(
    instance: *const equifx_instance,
    inputs: *const equifx_frame,
    input_count: usize,
    output: *const equifx_frame,
    frame: i64,
    callbacks: *const equifx_callbacks,
) -> equifx_status {
    ffi_guard! {
        let inst = self::instance(instance)?;
        let host = HostCallbacks::from_host(callbacks)?;
        if output.is_null() {
            return Err(FfiError::null("output"));
        }
        // SAFETY: non-null; the caller passes a frame of struct_size readable bytes.
        let out_desc = unsafe { host_struct::read(output, "output") }?;
        let in_descs = read_inputs(inputs, input_count)?;
        let out_layout = out_desc.layout()?;
        let in_layouts = in_descs.iter().map(|f| f.layout()).collect::<Result<Vec<_>, _>>()?;
        let in_memory = in_descs.iter().map(equifx_frame::bytes).collect::<Vec<_>>();
        // SAFETY: layout() checked each data is non-null and data_len bytes fit in the
        // address space; the caller guarantees they are readable for this call.
        let in_bytes = unsafe { input_views(&in_memory, out_desc.bytes()) }?;
        let frames = in_bytes
            .iter()
            .zip(&in_layouts)
            .map(|(b, l)| FrameRef::new(*l, b))
            .collect::<Result<Vec<_>, _>>()?;
        // SAFETY: layout() checked non-null and size; the caller guarantees the buffer
        // is writable for this call and no input aliases it (overlaps were copied above).
        let out_bytes = unsafe { std::slice::from_raw_parts_mut(out_desc.data as *mut u8, out_desc.data_len) };
        let mut out_frame = FrameMut::new(out_layout, out_bytes)?;

        let progress = |f: f64| host.progress(f);
        let abort = || host.aborted();
        let ctx = RenderContext::new(Some(&progress), Some(&abort));
        // No lock is held while the node renders and calls back into the host.
        let result = inst.snapshot().render(&frames, &mut out_frame, frame, &ctx);
        if let Err(e) = &result {
            host.log(LogLevel::Error, &e.to_string());
        }
        result?;
        Ok(equifx_status::EQUIFX_STATUS_OK)
    }
}

/// Copies the host's input frames: `count` frames, each `struct_size` bytes
/// after the previous one (the size the host compiled), all of the same size.
fn read_inputs(inputs: *const equifx_frame, count: usize) -> Result<Vec<equifx_frame>, FfiError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if inputs.is_null() {
        return Err(FfiError::null("inputs"));
    }
    if count > 16 {
        return Err(FfiError::invalid(format!(
            "input_count {count} is implausible; nodes take at most a few inputs"
        )));
    }
    // SAFETY: non-null; the caller passes an array of `count` frames.
    let first = unsafe { host_struct::read(inputs, "inputs[0]") }?;
    let stride = first.struct_size as usize;
    let mut frames = Vec::with_capacity(count);
    frames.push(first);
    for i in 1..count {
        // SAFETY: the array holds `count` frames of the host's sizeof, which is the
        // struct_size it sets in each (checked equal to the first's below).
        let f = unsafe {
            host_struct::read(
                inputs.wrapping_byte_add(i * stride),
                &format!("inputs[{i}]"),
            )
        }?;
        if f.struct_size as usize != stride {
            return Err(FfiError::invalid(format!(
                "inputs[{i}].struct_size is {}, inputs[0].struct_size is {stride}: the frames of \
                 an array all have the same size, sizeof(equifx_frame)",
                f.struct_size
            )));
        }
        frames.push(f);
    }
    Ok(frames)
}
