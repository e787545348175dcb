//! The host's property sets: typed, dimensioned values behind an
//! `OfxPropertySetHandle`, and the property suite over them.
//!
//! Like real hosts, a *closed* set knows a fixed list of properties and
//! refuses to set any other (kOfxStatErrUnknown, the HostSupport quirk the
//! spec records); an *open* set accepts anything (MLT's behaviour).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

use equifx_ffi::ofx::abi::{OfxPropertySetHandle, OfxPropertySuiteV1, OfxStatus};
use parking_lot::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Ptr(Vec<usize>),
    Str(Vec<CString>),
    Dbl(Vec<f64>),
    Int(Vec<c_int>),
}

impl Value {
    fn len(&self) -> usize {
        match self {
            Value::Ptr(v) => v.len(),
            Value::Str(v) => v.len(),
            Value::Dbl(v) => v.len(),
            Value::Int(v) => v.len(),
        }
    }
}

pub fn s(v: &str) -> Value {
    Value::Str(vec![CString::new(v).unwrap()])
}

pub struct PropSet {
    values: Mutex<HashMap<String, Value>>,
    /// Closed sets refuse to set properties they do not already hold.
    closed: bool,
    /// How many sets this set refused as unknown (the quirk actually fired).
    pub refused: AtomicUsize,
}

impl PropSet {
    pub fn new<K: Into<String>>(closed: bool, initial: Vec<(K, Value)>) -> Box<PropSet> {
        Box::new(PropSet {
            values: Mutex::new(initial.into_iter().map(|(k, v)| (k.into(), v)).collect()),
            closed,
            refused: AtomicUsize::new(0),
        })
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self as *const PropSet as OfxPropertySetHandle
    }

    pub fn get(&self, name: &str) -> Option<Value> {
        self.values.lock().get(name).cloned()
    }

    /// Every (name, value), for copying a descriptor into an instance.
    pub fn snapshot(&self) -> Vec<(String, Value)> {
        self.values
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn put(&self, name: &str, v: Value) {
        self.values.lock().insert(name.to_string(), v);
    }

    pub fn string(&self, name: &str, i: usize) -> Option<String> {
        match self.get(name)? {
            Value::Str(v) => v.get(i).map(|c| c.to_string_lossy().into_owned()),
            _ => None,
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::Str(v)) => v.iter().map(|c| c.to_string_lossy().into_owned()).collect(),
            _ => vec![],
        }
    }

    pub fn int(&self, name: &str, i: usize) -> Option<c_int> {
        match self.get(name)? {
            Value::Int(v) => v.get(i).copied(),
            _ => None,
        }
    }

    pub fn double(&self, name: &str, i: usize) -> Option<f64> {
        match self.get(name)? {
            Value::Dbl(v) => v.get(i).copied(),
            _ => None,
        }
    }

    /// Sets element `i` of `name`, growing the property; enforces type and
    /// (for closed sets) existence.
    fn set_with(
        &self,
        name: &str,
        make: impl FnOnce() -> Value,
        apply: impl FnOnce(&mut Value) -> bool,
    ) -> OfxStatus {
        let mut values = self.values.lock();
        match values.get_mut(name) {
            Some(v) => {
                if apply(v) {
                    OfxStatus::OK
                } else {
                    OfxStatus::ERR_VALUE
                }
            }
            None if self.closed => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                OfxStatus::ERR_UNKNOWN
            }
            None => {
                let mut v = make();
                let ok = apply(&mut v);
                values.insert(name.to_string(), v);
                if ok {
                    OfxStatus::OK
                } else {
                    OfxStatus::ERR_VALUE
                }
            }
        }
    }
}

fn put_at<T: Clone + Default>(v: &mut Vec<T>, i: usize, x: T) {
    if v.len() <= i {
        v.resize(i + 1, T::default());
    }
    v[i] = x;
}

/// # Safety
/// `h` must be a handle made by [`PropSet::handle`] that is still alive.
unsafe fn set<'a>(h: OfxPropertySetHandle) -> Option<&'a PropSet> {
    (h as *const PropSet).as_ref()
}

unsafe fn name<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

macro_rules! args {
    ($h:expr, $n:expr) => {
        // SAFETY: the plugin passes handles this host made and C-string names.
        match unsafe { (set($h), name($n)) } {
            (Some(ps), Some(n)) => (ps, n),
            _ => return OfxStatus::ERR_BAD_HANDLE,
        }
    };
}

macro_rules! setter {
    ($fname:ident, $t:ty, $variant:ident, $conv:expr) => {
        extern "C" fn $fname(
            h: OfxPropertySetHandle,
            n: *const c_char,
            i: c_int,
            v: $t,
        ) -> OfxStatus {
            let (ps, n) = args!(h, n);
            let Ok(i) = usize::try_from(i) else {
                return OfxStatus::ERR_BAD_INDEX;
            };
            let x = $conv(v);
            ps.set_with(
                n,
                || Value::$variant(vec![]),
                |val| match val {
                    Value::$variant(vec) => {
                        put_at(vec, i, x);
                        true
                    }
                    _ => false,
                },
            )
        }
    };
}

setter!(set_pointer, *mut c_void, Ptr, |v: *mut c_void| v as usize);
setter!(set_double, f64, Dbl, |v| v);
setter!(set_int, c_int, Int, |v| v);
extern "C" fn set_string(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    v: *const c_char,
) -> OfxStatus {
    if v.is_null() {
        return OfxStatus::ERR_VALUE;
    }
    // SAFETY: non-null C string from the plugin, copied at once.
    let c = unsafe { CStr::from_ptr(v) }.to_owned();
    let (ps, n) = args!(h, n);
    let Ok(i) = usize::try_from(i) else {
        return OfxStatus::ERR_BAD_INDEX;
    };
    ps.set_with(
        n,
        || Value::Str(vec![]),
        |val| match val {
            Value::Str(vec) => {
                put_at(vec, i, c);
                true
            }
            _ => false,
        },
    )
}

macro_rules! setter_n {
    ($fname:ident, $t:ty, $one:ident) => {
        extern "C" fn $fname(
            h: OfxPropertySetHandle,
            n: *const c_char,
            count: c_int,
            v: $t,
        ) -> OfxStatus {
            if v.is_null() || count < 0 {
                return OfxStatus::ERR_VALUE;
            }
            for i in 0..count {
                // SAFETY: the plugin passes `count` values.
                let st = $one(h, n, i, unsafe { *v.add(i as usize) });
                if st != OfxStatus::OK {
                    return st;
                }
            }
            OfxStatus::OK
        }
    };
}
setter_n!(set_pointer_n, *const *mut c_void, set_pointer);
setter_n!(set_string_n, *const *const c_char, set_string);
setter_n!(set_double_n, *const f64, set_double);
setter_n!(set_int_n, *const c_int, set_int);

/// Reads element `i`: unknown → ErrUnknown, wrong type → ErrValue, past the
/// dimension → ErrBadIndex.
fn get_with<T>(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    pick: impl FnOnce(&Value, usize) -> Option<Option<T>>,
    out: *mut T,
) -> OfxStatus {
    if out.is_null() {
        return OfxStatus::ERR_VALUE;
    }
    let (ps, n) = args!(h, n);
    let Ok(i) = usize::try_from(i) else {
        return OfxStatus::ERR_BAD_INDEX;
    };
    let values = ps.values.lock();
    let Some(v) = values.get(n) else {
        return OfxStatus::ERR_UNKNOWN;
    };
    match pick(v, i) {
        None => OfxStatus::ERR_VALUE,
        Some(None) => OfxStatus::ERR_BAD_INDEX,
        Some(Some(x)) => {
            // SAFETY: out is a non-null out-pointer from the plugin.
            unsafe { out.write(x) };
            OfxStatus::OK
        }
    }
}

extern "C" fn get_pointer(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut *mut c_void,
) -> OfxStatus {
    get_with(
        h,
        n,
        i,
        |v, i| match v {
            Value::Ptr(x) => Some(x.get(i).map(|p| *p as *mut c_void)),
            _ => None,
        },
        out,
    )
}
extern "C" fn get_string(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut *mut c_char,
) -> OfxStatus {
    // The pointer stays valid until the property changes, as the spec allows.
    get_with(
        h,
        n,
        i,
        |v, i| match v {
            Value::Str(x) => Some(x.get(i).map(|c| c.as_ptr() as *mut c_char)),
            _ => None,
        },
        out,
    )
}
extern "C" fn get_double(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut f64,
) -> OfxStatus {
    get_with(
        h,
        n,
        i,
        |v, i| match v {
            Value::Dbl(x) => Some(x.get(i).copied()),
            _ => None,
        },
        out,
    )
}
extern "C" fn get_int(
    h: OfxPropertySetHandle,
    n: *const c_char,
    i: c_int,
    out: *mut c_int,
) -> OfxStatus {
    get_with(
        h,
        n,
        i,
        |v, i| match v {
            Value::Int(x) => Some(x.get(i).copied()),
            _ => None,
        },
        out,
    )
}

macro_rules! getter_n {
    ($fname:ident, $t:ty, $one:ident) => {
        extern "C" fn $fname(
            h: OfxPropertySetHandle,
            n: *const c_char,
            count: c_int,
            out: *mut $t,
        ) -> OfxStatus {
            if out.is_null() || count < 0 {
                return OfxStatus::ERR_VALUE;
            }
            for i in 0..count {
                // SAFETY: the plugin passes room for `count` values.
                let st = $one(h, n, i, unsafe { out.add(i as usize) });
                if st != OfxStatus::OK {
                    return st;
                }
            }
            OfxStatus::OK
        }
    };
}
getter_n!(get_pointer_n, *mut c_void, get_pointer);
getter_n!(get_string_n, *mut c_char, get_string);
getter_n!(get_double_n, f64, get_double);
getter_n!(get_int_n, c_int, get_int);

/// Back to the default, which for the lists the plugin resets (choice
/// options) is empty: dimension 0, as HostSupport does.
extern "C" fn reset(h: OfxPropertySetHandle, n: *const c_char) -> OfxStatus {
    let (ps, n) = args!(h, n);
    match ps.values.lock().get_mut(n) {
        Some(v) => {
            *v = match v {
                Value::Ptr(_) => Value::Ptr(vec![]),
                Value::Str(_) => Value::Str(vec![]),
                Value::Dbl(_) => Value::Dbl(vec![]),
                Value::Int(_) => Value::Int(vec![]),
            };
            OfxStatus::OK
        }
        None => OfxStatus::ERR_UNKNOWN,
    }
}

extern "C" fn dimension(h: OfxPropertySetHandle, n: *const c_char, out: *mut c_int) -> OfxStatus {
    if out.is_null() {
        return OfxStatus::ERR_VALUE;
    }
    let (ps, n) = args!(h, n);
    match ps.values.lock().get(n) {
        // SAFETY: out is a non-null out-pointer from the plugin.
        Some(v) => unsafe {
            out.write(v.len() as c_int);
            OfxStatus::OK
        },
        None => OfxStatus::ERR_UNKNOWN,
    }
}

pub static SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    prop_set_pointer: set_pointer,
    prop_set_string: set_string,
    prop_set_double: set_double,
    prop_set_int: set_int,
    prop_set_pointer_n: set_pointer_n,
    prop_set_string_n: set_string_n,
    prop_set_double_n: set_double_n,
    prop_set_int_n: set_int_n,
    prop_get_pointer: get_pointer,
    prop_get_string: get_string,
    prop_get_double: get_double,
    prop_get_int: get_int,
    prop_get_pointer_n: get_pointer_n,
    prop_get_string_n: get_string_n,
    prop_get_double_n: get_double_n,
    prop_get_int_n: get_int_n,
    prop_reset: reset,
    prop_get_dimension: dimension,
};
