//! The subset of ONNX's protobuf messages an exported model needs, encoded
//! with `prost` (no protoc, no generated code at build time).
//!
//! Field numbers, types and packing follow the official `onnx/onnx.proto`
//! (`syntax = "proto2"`); every field below cites its declaration there.
//! proto2 matters in two places:
//! - scalar fields are `optional` with presence, and the ONNX checker counts
//!   which value field of an [`AttributeProto`] is *present*, so an
//!   attribute `axis = 0` must still be written: those fields are `Option`s;
//! - repeated scalars are unpacked unless the spec says `[packed = true]`
//!   (readers accept either, but we write what the spec declares).

/// `message ModelProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// `optional int64 ir_version = 1;`
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    /// `repeated OperatorSetIdProto opset_import = 8;`
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// `optional string producer_name = 2;`
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    /// `optional string producer_version = 3;`
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    /// `optional string domain = 4;`
    #[prost(string, optional, tag = "4")]
    pub domain: Option<String>,
    /// `optional int64 model_version = 5;`
    #[prost(int64, optional, tag = "5")]
    pub model_version: Option<i64>,
    /// `optional string doc_string = 6;`
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    /// `optional GraphProto graph = 7;`
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// `repeated StringStringEntryProto metadata_props = 14;`
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `message StringStringEntryProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// `optional string key = 1;`
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// `optional string value = 2;`
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `message OperatorSetIdProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// `optional string domain = 1;` (empty: the default `ai.onnx` set)
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    /// `optional int64 version = 2;`
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `message GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// `repeated NodeProto node = 1;` (sorted topologically)
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// `optional string name = 2;`
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// `repeated TensorProto initializer = 5;`
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// `optional string doc_string = 10;`
    #[prost(string, optional, tag = "10")]
    pub doc_string: Option<String>,
    /// `repeated ValueInfoProto input = 11;`
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// `repeated ValueInfoProto output = 12;`
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// `repeated ValueInfoProto value_info = 13;`
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `message NodeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// `repeated string input = 1;`
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// `repeated string output = 2;`
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// `optional string name = 3;`
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// `optional string op_type = 4;`
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    /// `optional string domain = 7;`
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
    /// `repeated AttributeProto attribute = 5;`
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// `optional string doc_string = 6;`
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
}

/// `enum AttributeProto.AttributeType` (the values this crate writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AttributeType {
    Undefined = 0,
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Floats = 6,
    Ints = 7,
}

/// `message AttributeProto`: a name, its type and exactly one value field.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// `optional string name = 1;`
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional string doc_string = 13;`
    #[prost(string, optional, tag = "13")]
    pub doc_string: Option<String>,
    /// `optional AttributeType type = 20;` (must match the value field in use)
    #[prost(enumeration = "AttributeType", optional, tag = "20")]
    pub r#type: Option<i32>,
    /// `optional float f = 2;`
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// `optional int64 i = 3;`
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// `optional bytes s = 4;` (UTF-8)
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    /// `optional TensorProto t = 5;`
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `repeated float floats = 7;` (proto2: unpacked)
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// `repeated int64 ints = 8;` (proto2: unpacked)
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
}

/// `enum TensorProto.DataType` (the values this crate writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    Undefined = 0,
    Float = 1,
    Int64 = 7,
}

/// `message TensorProto`: initializers and constant attributes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `repeated int64 dims = 1;` (proto2: unpacked)
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `optional int32 data_type = 2;` (a [`DataType`])
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    /// `optional string name = 8;`
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    /// `optional string doc_string = 12;`
    #[prost(string, optional, tag = "12")]
    pub doc_string: Option<String>,
    /// `optional bytes raw_data = 9;`: fixed-width little-endian elements,
    /// row-major.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
}

/// `message ValueInfoProto`: a graph input or output with its type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// `optional string name = 1;`
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional TypeProto type = 2;`
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// `optional string doc_string = 3;`
    #[prost(string, optional, tag = "3")]
    pub doc_string: Option<String>,
}

/// `message TypeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// `oneof value { Tensor tensor_type = 1; … }`
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
    /// `optional string denotation = 6;`
    #[prost(string, optional, tag = "6")]
    pub denotation: Option<String>,
}

pub mod type_proto {
    /// `message TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// `optional int32 elem_type = 1;` (a [`super::DataType`])
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        /// `optional TensorShapeProto shape = 2;`
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// `oneof TypeProto.value` (only tensors here).
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `Tensor tensor_type = 1;`
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// `message TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// `repeated Dimension dim = 1;`
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

pub mod tensor_shape_proto {
    /// `message TensorShapeProto.Dimension`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        /// `oneof value { int64 dim_value = 1; string dim_param = 2; }`
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
        /// `optional string denotation = 3;`
        #[prost(string, optional, tag = "3")]
        pub denotation: Option<String>,
    }

    pub mod dimension {
        /// `oneof TensorShapeProto.Dimension.value`.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// `int64 dim_value = 1;`
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// `string dim_param = 2;` (a symbolic dimension)
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Hand-checked wire bytes: presence of a zero-valued attribute, the
    /// proto2 (unpacked) ints and the field numbers.
    #[test]
    fn wire_format_matches_onnx_proto() {
        let a = AttributeProto {
            name: Some("axis".into()),
            r#type: Some(AttributeType::Int as i32),
            i: Some(0),
            ..Default::default()
        };
        // name (1, len 4 "axis"), i (3, varint 0), type (20, varint 2)
        assert_eq!(
            a.encode_to_vec(),
            [0x0a, 4, b'a', b'x', b'i', b's', 0x18, 0, 0xa0, 0x01, 2]
        );
        let t = TensorProto {
            dims: vec![2, 1],
            data_type: Some(DataType::Float as i32),
            ..Default::default()
        };
        // dims (1, varint) twice, unpacked; data_type (2, varint 1)
        assert_eq!(t.encode_to_vec(), [0x08, 2, 0x08, 1, 0x10, 1]);
        let m = ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
            ..Default::default()
        };
        // ir_version (1, varint 8); opset_import (8, len 4: domain "" and version 17)
        assert_eq!(m.encode_to_vec(), [0x08, 8, 0x42, 4, 0x0a, 0, 0x10, 17]);
        assert_eq!(ModelProto::decode(&m.encode_to_vec()[..]).unwrap(), m);
    }
}
