// The `walle._walle` extension: Tensor (buffer protocol, so it works without numpy), Session,
// and introspection. Declared safe for sub-interpreters with their own GIL (PEP 684): the
// module keeps no Python state in C++ globals, and errors are mapped per interpreter.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/strings.h"
#include "decompose/registry.h"
#include "model/loader.h"
#include "runtime/session.h"
#include "text/utf8.h"

namespace py = pybind11;
using namespace walle;

namespace {

// Buffer-protocol format of each dtype (bfloat16 has none: it is shown as raw uint16).
std::string buffer_format(DType t) {
  switch (t) {
    case DType::F32: return "f";
    case DType::F64: return "d";
    case DType::F16: return "e";
    case DType::I8: return "b";
    case DType::U8: return "B";
    case DType::I16: return "h";
    case DType::U16:
    case DType::BF16: return "H";
    case DType::I32: return "i";
    case DType::U32: return "I";
    case DType::I64: return "q";
    case DType::U64: return "Q";
    case DType::Bool: return "?";
    case DType::F8E4M3FN:
    case DType::F8E4M3FNUZ:
    case DType::F8E5M2:
    case DType::F8E5M2FNUZ:
    case DType::U4:
    case DType::I4:
    case DType::F4E2M1:
    case DType::F8E8M0:
    case DType::U2:
    case DType::I2: return "B";  // raw bit patterns; walle.Session views them as ml_dtypes arrays
    case DType::String:
      throw Error(ErrorKind::Unsupported, "a string tensor has no buffer format: read it with strings() or tolist()");
    default: throw Error(ErrorKind::Unsupported, std::string("dtype ") + dtype_name(t) + " has no buffer format");
  }
}

DType dtype_from_format(const std::string& format, ssize_t itemsize) {
  std::string f = format;
  if (!f.empty() && (f[0] == '<' || f[0] == '=' || f[0] == '@' || f[0] == '!')) f = f.substr(1);
  if (f == "f") return DType::F32;
  if (f == "d") return DType::F64;
  if (f == "e") return DType::F16;
  if (f == "b") return DType::I8;
  if (f == "B") return DType::U8;
  if (f == "h") return DType::I16;
  if (f == "H") return DType::U16;
  if (f == "?") return DType::Bool;
  if (f == "i" || f == "l" || f == "q") return itemsize == 8 ? DType::I64 : DType::I32;
  if (f == "I" || f == "L" || f == "Q") return itemsize == 8 ? DType::U64 : DType::U32;
  throw Error(ErrorKind::Input, "unsupported buffer format '" + format + "'");
}

// A Tensor over the memory of a Python buffer; keeps the buffer's exporter alive.
Tensor tensor_from_buffer(const py::buffer& obj, const std::string& dtype_override, const std::string& what) {
  py::buffer_info info = obj.request();
  DType dtype =
      dtype_override.empty() ? dtype_from_format(info.format, info.itemsize) : dtype_from_name(dtype_override);
  if (static_cast<size_t>(info.itemsize) != dtype_size(dtype))
    throw Error(ErrorKind::Input, what + ": element size " + std::to_string(info.itemsize) + " does not match dtype " +
                                      dtype_name(dtype));
  Shape shape(info.shape.begin(), info.shape.end());
  int64_t expect = info.itemsize;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] != 1 && info.strides[i] != expect)
      throw Error(ErrorKind::Input, what + ": the buffer is not C-contiguous (copy it first)");
    expect *= shape[i];
  }
  auto* holder = new py::object(obj);
  std::shared_ptr<void> owner(holder, [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return Tensor(dtype, shape, info.ptr, owner);
}

py::buffer_info tensor_buffer(const Tensor& t) {
  std::vector<ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<ssize_t> strides;
  ssize_t item = static_cast<ssize_t>(dtype_size(t.dtype()));
  for (int64_t s : contiguous_strides(t.shape())) strides.push_back(s * item);
  return py::buffer_info(t.data(), item, buffer_format(t.dtype()), static_cast<ssize_t>(shape.size()), shape, strides);
}

// A string tensor from a flat sequence of str (or UTF-8 bytes) objects; `what` names the
// input in errors. The bytes are copied once, into one blob the tensor owns.
Tensor tensor_from_strings(const py::sequence& values, const Shape& shape, const std::string& what) {
  std::vector<std::string_view> views;
  views.reserve(values.size());
  std::vector<py::object> keep;  // the objects whose UTF-8 buffers the views point into
  keep.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    py::object v = values[i];
    const char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyUnicode_Check(v.ptr())) {
      data = PyUnicode_AsUTF8AndSize(v.ptr(), &size);
      if (!data) {  // lone surrogates have no UTF-8 form
        PyErr_Clear();
        throw Error(ErrorKind::Input, what + ": string element " + std::to_string(i) + " cannot be encoded as UTF-8");
      }
    } else if (PyBytes_Check(v.ptr())) {
      PyBytes_AsStringAndSize(v.ptr(), const_cast<char**>(&data), &size);
      if (!text::utf8_valid(std::string_view(data, static_cast<size_t>(size))))
        throw Error(ErrorKind::Input, what + ": bytes element " + std::to_string(i) + " is not valid UTF-8");
    } else {
      throw Error(ErrorKind::Input, what + ": element " + std::to_string(i) + " is a " +
                                        std::string(py::str(py::type::of(v).attr("__name__"))) + ", expected str");
    }
    views.emplace_back(data, static_cast<size_t>(size));
    keep.push_back(std::move(v));
  }
  if (static_cast<int64_t>(views.size()) != numel(shape))
    throw Error(ErrorKind::Input,
                what + ": " + std::to_string(views.size()) + " strings for shape " + shape_str(shape));
  return make_string_tensor(shape, views);
}

// Nested lists of str in the tensor's shape (a flat list for rank 0 is just the str).
py::object string_list(const Tensor& t, size_t dim, int64_t* at) {
  if (dim == t.shape().size()) {
    std::string_view s = string_at(t, (*at)++);
    return py::str(s.data(), s.size());
  }
  py::list out;
  for (int64_t i = 0; i < t.shape()[dim]; ++i) out.append(string_list(t, dim + 1, at));
  return out;
}

py::dict value_info_dict(const ValueInfo& v) {
  py::dict d;
  d["name"] = v.name;
  d["dtype"] = dtype_name(v.dtype);
  d["dims"] = v.dims;
  d["dim_names"] = v.dim_names;
  d["kind"] = value_kind_name(v.kind);
  d["unknown_rank"] = v.unknown_rank;
  return d;
}

// A run input: None (an absent optional), a list or tuple of buffers (a sequence), or a buffer.
// Whether that kind fits the input is Session::run's check.
Value value_from_python(const py::handle& obj, const std::string& dtype, const std::string& what) {
  auto tensor = [&](const py::handle& o, const std::string& label) {
    // String tensors have no buffer: a walle.Tensor of strings is taken as it is.
    if (py::isinstance<Tensor>(o) && o.cast<const Tensor&>().dtype() == DType::String) return o.cast<Tensor>();
    if (!PyObject_CheckBuffer(o.ptr()))
      throw Error(ErrorKind::Input, label +
                                        ": expected an array (a buffer such as a numpy array or walle.Tensor), got " +
                                        std::string(Py_TYPE(o.ptr())->tp_name));
    return tensor_from_buffer(py::reinterpret_borrow<py::buffer>(o), dtype, label);
  };
  if (obj.is_none()) return Value::none();
  if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    std::vector<Tensor> items;
    size_t k = 0;
    for (const py::handle& item : obj) items.push_back(tensor(item, what + " item " + std::to_string(k++)));
    return Value::sequence(std::move(items));
  }
  return Value::tensor(tensor(obj, what));
}

py::object value_to_python(const Value& v) {
  if (v.kind == Value::Kind::None) return py::none();
  if (v.kind == Value::Kind::Tensor) return py::cast(v.tensors[0]);
  py::list items;
  for (const Tensor& t : v.tensors) items.append(py::cast(t));
  return std::move(items);
}

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const walle::Error& e) {
    static const char* names[] = {"Error", "ModelError", "UnsupportedOpError", "InputError", "BackendError"};
    py::object cls = py::module_::import("walle.errors").attr(names[static_cast<int>(e.kind())]);
    PyErr_SetString(cls.ptr(), e.what());
  }
}

}  // namespace

PYBIND11_MODULE(_walle, m, py::multiple_interpreters::per_interpreter_gil()) {
  m.doc() = "Walle tensor engine (C++ core)";
  py::register_local_exception_translator(translate);

  py::class_<Tensor>(m, "Tensor", py::buffer_protocol(), "A dense tensor; supports the buffer protocol.")
      .def(py::init([](const py::buffer& obj, const std::string& dtype) {
             Tensor view = tensor_from_buffer(obj, dtype, "Tensor");
             Tensor copy(view.dtype(), view.shape());  // own the bytes: the source may change
             std::memcpy(copy.data(), view.data(), view.nbytes());
             return copy;
           }),
           py::arg("data"), py::arg("dtype") = "",
           "Copies any C-contiguous buffer (numpy array, memoryview, array.array) into a new tensor.")
      .def_static(
          "from_strings",
          [](const py::sequence& values, const std::vector<int64_t>& shape, const std::string& what) {
            return tensor_from_strings(values, shape, what);
          },
          py::arg("values"), py::arg("shape"), py::arg("what") = "Tensor",
          "A string tensor of `shape` from a flat sequence of str (or UTF-8 bytes), copied.")
      .def(
          "strings",
          [](const Tensor& t) {
            if (t.dtype() != DType::String) throw Error(ErrorKind::Invalid, "strings() needs a string tensor");
            py::list out;
            for (int64_t i = 0; i < t.numel(); ++i) {
              std::string_view v = string_at(t, i);
              out.append(py::str(v.data(), v.size()));
            }
            return out;
          },
          "The elements of a string tensor as a flat list of str.")
      .def_buffer(tensor_buffer)
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def("tolist",
           [](py::object self) -> py::object {
             const Tensor& t = self.cast<const Tensor&>();
             if (t.dtype() == DType::String) {
               int64_t at = 0;
               return string_list(t, 0, &at);
             }
             return py::module_::import("builtins").attr("memoryview")(self).attr("tolist")();
           })
      .def("__repr__", [](const Tensor& t) {
        return std::string("walle.Tensor(shape=") + shape_str(t.shape()) + ", dtype=" + dtype_name(t.dtype()) + ")";
      });

  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def(py::init([](const std::string& path, const std::string& backend, const std::string& isa, int threads,
                       const std::string& mode, const std::map<std::string, std::string>& force, int64_t memory_limit) {
             std::shared_ptr<Model> model;
             {
               py::gil_scoped_release release;
               model = load_model(path);
             }
             SessionOptions options;
             options.backend = backend;
             options.isa = isa;
             options.threads = threads;
             options.mode = mode;
             options.force = force;
             options.memory_limit = memory_limit;
             py::gil_scoped_release release;
             return std::make_shared<Session>(model, options);
           }),
           py::arg("path"), py::arg("backend") = "cpu", py::arg("isa") = "auto", py::arg("threads") = 1,
           py::arg("mode") = "estimate", py::arg("force") = std::map<std::string, std::string>{},
           py::arg("memory_limit") = 0)
      .def_property_readonly("inputs",
                             [](const Session& s) {
                               py::list out;
                               for (const auto& v : s.inputs()) out.append(value_info_dict(v));
                               return out;
                             })
      .def_property_readonly("outputs",
                             [](const Session& s) {
                               py::list out;
                               for (const auto& v : s.outputs()) out.append(value_info_dict(v));
                               return out;
                             })
      .def(
          "run",
          [](Session& s, const py::list& arrays, const std::vector<std::string>& dtypes) {
            std::vector<Value> inputs;
            for (size_t i = 0; i < arrays.size(); ++i) {
              std::string name = i < s.inputs().size() ? s.inputs()[i].name : std::to_string(i);
              std::string dtype = i < dtypes.size() ? dtypes[i] : "";
              inputs.push_back(value_from_python(arrays[i], dtype, "input '" + name + "'"));
            }
            std::vector<Value> outputs;
            {
              py::gil_scoped_release release;  // other Python threads run while we compute
              outputs = s.run(inputs);
            }
            py::list out;  // a Tensor, a list of Tensors (a sequence) or None (an empty optional)
            for (const Value& v : outputs) out.append(value_to_python(v));
            return out;
          },
          py::arg("inputs"), py::arg("dtypes") = std::vector<std::string>{})
      .def("plan",
           [](Session& s) {
             py::list rows;
             for (const PlannedOp& op : s.plan_report()) {
               py::dict d;
               d["node"] = op.origin;
               d["op"] = op.kind;
               d["kernel"] = op.kernel;
               d["shape"] = op.shape;
               d["macs"] = op.macs;
               d["backend"] = op.backend;
               d["algorithm"] = op.algorithm;
               d["layout"] = op.layout;
               d["variants"] = op.variants;
               d["estimate_us"] = op.estimate_us;
               d["measured_us"] = op.measured_us;
               d["candidates"] = op.candidates;
               d["us"] = op.runs ? op.total_us / static_cast<double>(op.runs) : 0.0;  // mean per run
               rows.append(d);
             }
             return rows;
           })
      .def_property_readonly("arena_bytes", &Session::arena_bytes)
      .def_property_readonly("threads", [](const Session& s) { return s.options().threads; })
      .def_property_readonly("backend", [](const Session& s) { return s.options().backend; });

  m.def(
      "composite_ops",
      [] {
        std::vector<std::string> names;
        for (const auto& entry : composite_ops()) names.push_back(entry.first);
        return names;
      },
      "The composite (ONNX) op types this build runs, sorted; each is defined by its decomposition into atomic ops.");
  m.def("atomic_ops", [] {
    std::vector<std::string> names;
    for (int k = 0; k <= static_cast<int>(AtomicKind::Text); ++k)
      names.push_back(atomic_kind_name(static_cast<AtomicKind>(k)));
    return names;
  });
  m.def("detected_isa", [] { return std::string(isa_name(detected_isa())); });
  m.def("backends", [] { return backend_names(); });
  m.def(
      "backend_status",
      [] {
        py::list out;
        for (const BackendStatus& b : backend_status()) {
          py::dict d;
          d["name"] = b.name;
          d["built"] = b.built;
          d["available"] = b.available;
          d["device"] = b.device;
          d["reason"] = b.reason;
          out.append(d);
        }
        return out;
      },
      "Every backend: whether this build has it, whether this machine can run it, the device or why not.");
  m.def("format_version", [] { return kFormatVersion; });
  m.def(
      "model_summary",
      [](const std::string& path) {
        std::shared_ptr<Model> model;
        {
          py::gil_scoped_release release;
          model = load_model(path);
        }
        py::dict ops;
        for (const Node& n : model->graph.nodes)
          ops[py::str(n.op_type)] = ops.contains(n.op_type) ? ops[py::str(n.op_type)].cast<int>() + 1 : 1;
        int64_t params = 0, bytes = 0;
        for (const auto& kv : model->graph.initializers) {
          params += kv.second.numel();
          bytes += static_cast<int64_t>(kv.second.nbytes());
        }
        py::dict d;
        d["op_counts"] = ops;
        d["nodes"] = model->graph.nodes.size();
        d["parameters"] = params;
        d["weight_bytes"] = bytes;
        return d;
      },
      "Op counts, parameter count and weight bytes of a model file.");
  m.def(
      "check_model",
      [](const std::string& path) {
        py::gil_scoped_release release;
        load_model(path);
      },
      "Loads and verifies a model file; raises walle.ModelError on any problem.");
}
