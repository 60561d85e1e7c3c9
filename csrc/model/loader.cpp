#include "model/loader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/strings.h"
#include "text/utf8.h"
#include "walle_model_generated.h"

namespace walle {

namespace {

static_assert(static_cast<int>(ValueKind::Tensor) == fb::ValueKind_Tensor &&
                  static_cast<int>(ValueKind::Sequence) == fb::ValueKind_Sequence &&
                  static_cast<int>(ValueKind::Optional) == fb::ValueKind_Optional &&
                  static_cast<int>(ValueKind::OptionalSequence) == fb::ValueKind_OptionalSequence,
              "graph.h ValueKind mirrors the model file's");

class Reader {
 public:
  Reader(std::string name, const uint8_t* weights, uint64_t weights_size, std::shared_ptr<void> owner)
      : name_(std::move(name)), weights_(weights), weights_size_(weights_size), owner_(std::move(owner)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::Model, "invalid model file '" + name_ + "': " + what);
  }

  // Every name in a model (values, nodes, op types, attributes) reaches error messages and
  // Python strings: it must be valid UTF-8.
  std::string str(const flatbuffers::String* s, const std::string& where = "a name") const {
    std::string v = s ? s->str() : std::string();
    if (!text::utf8_valid(v)) fail(where + " is not valid UTF-8 (" + escaped(v) + ")");
    return v;
  }

  // The FlatBuffers verifier checks a vector's length field is 4-byte aligned, not that its
  // 8-byte elements are: a hostile file could make every read of them misaligned (undefined
  // behaviour). Our writer aligns them; anything else is refused.
  template <typename T>
  const flatbuffers::Vector<T>* aligned(const flatbuffers::Vector<T>* v, const std::string& where) const {
    if (v && reinterpret_cast<uintptr_t>(v->data()) % alignof(T) != 0)
      fail(where + ": a vector of " + std::to_string(sizeof(T)) + "-byte values is misaligned");
    return v;
  }

  // Printable ASCII kept, other bytes as \xNN: what a message may quote from a bad name.
  static std::string escaped(const std::string& v) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : v.substr(0, 64)) {
      if (c >= 0x20 && c < 0x7f)
        out += static_cast<char>(c);
      else
        out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
    return out;
  }

  // String attributes become string tensor elements (stopwords, LabelEncoder values) and
  // delimiters: like string constants, they must be valid UTF-8.
  std::string text_attr(const flatbuffers::String* s, const std::string& where) const {
    return str(s, where + ": a string");
  }

  Tensor tensor(const fb::TensorData* t, const std::string& where) const {
    if (!t) fail(where + ": missing tensor");
    std::string label = where + " tensor '" + str(t->name(), where + " tensor name") + "'";
    if (!dtype_is_valid(t->dtype())) fail(label + ": unsupported dtype code " + std::to_string(t->dtype()));
    DType dtype = static_cast<DType>(t->dtype());
    Shape dims;
    uint64_t count = 1;
    if (aligned(t->dims(), label + " dims"))
      for (int64_t d : *t->dims()) {
        if (d < 0 || d > kMaxDim) fail(label + ": bad dimension " + std::to_string(d) + " (limit 2^40)");
        dims.push_back(d);
        if (d && count > static_cast<uint64_t>(kMaxElements) / static_cast<uint64_t>(d))
          fail(label + ": too many elements (limit 2^48)");
        count *= static_cast<uint64_t>(d);
      }
    if (dtype == DType::String) return string_tensor(t, label, dims, count);
    uint64_t bytes = count * dtype_size(dtype);
    if (t->size() != bytes)
      fail(label + ": holds " + std::to_string(t->size()) + " bytes, its shape needs " + std::to_string(bytes));
    if (t->offset() % 64 != 0)
      fail(label + ": weights offset " + std::to_string(t->offset()) + " is not 64-byte aligned");
    if (t->offset() > weights_size_ || bytes > weights_size_ - t->offset())
      fail(label + ": bytes [" + std::to_string(t->offset()) + ", +" + std::to_string(bytes) +
           ") lie outside the weights");
    if (bytes == 0) return Tensor(dtype, dims);
    return Tensor(dtype, dims, const_cast<uint8_t*>(weights_ + t->offset()), owner_);
  }

  // Handles into the weights, after checking every end lies in the tensor's bytes, the ends
  // never go back, and each string is valid UTF-8 (what the text kernels rely on).
  Tensor string_tensor(const fb::TensorData* t, const std::string& label, const Shape& dims, uint64_t count) const {
    uint64_t bytes = t->size();
    if (t->offset() % 64 != 0)
      fail(label + ": weights offset " + std::to_string(t->offset()) + " is not 64-byte aligned");
    if (t->offset() > weights_size_ || bytes > weights_size_ - t->offset())
      fail(label + ": string bytes [" + std::to_string(t->offset()) + ", +" + std::to_string(bytes) +
           ") lie outside the weights");
    const auto* ends = aligned(t->string_ends(), label + " string ends");
    uint64_t n_ends = ends ? ends->size() : 0;
    if (n_ends != count)
      fail(label + ": " + std::to_string(n_ends) + " string ends for " + std::to_string(count) + " elements");
    Tensor handles(DType::String, dims);
    StringRef* refs = handles.data_as<StringRef>();
    const char* base = reinterpret_cast<const char*>(weights_ + t->offset());
    uint64_t start = 0;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t end = ends->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (end < start || end > bytes)
        fail(label + ": string " + std::to_string(i) + " ends at " + std::to_string(end) + ", outside [" +
             std::to_string(start) + ", " + std::to_string(bytes) + "]");
      std::string_view s(base + start, end - start);
      if (!text::utf8_valid(s)) fail(label + ": string " + std::to_string(i) + " is not valid UTF-8");
      refs[i] = StringRef{s.data(), s.size()};
      start = end;
    }
    if (start != bytes)
      fail(label + ": the strings end at " + std::to_string(start) + " of " + std::to_string(bytes) + " bytes");
    return keep_alive(handles, owner_);
  }

  ValueInfo value_info(const fb::ValueInfo* v, const std::string& where) const {
    if (!v || !v->name()) fail(where + ": missing name");
    ValueInfo info;
    info.name = str(v->name(), where + " name");
    if (!dtype_is_valid(v->dtype()))
      fail(where + " '" + info.name + "': unsupported dtype code " + std::to_string(v->dtype()));
    info.dtype = static_cast<DType>(v->dtype());
    if (aligned(v->dims(), where + " '" + info.name + "' dims"))
      for (int64_t d : *v->dims()) {
        if (d < -1 || d > kMaxDim)
          fail(where + " '" + info.name + "': bad dimension " + std::to_string(d) + " (limit 2^40)");
        info.dims.push_back(d);
      }
    Shape known;  // the declared dims, unknown ones as 1: their element count is bounded too
    for (int64_t d : info.dims) known.push_back(d < 0 ? 1 : d);
    if (checked_numel(known) < 0)
      fail(where + " '" + info.name + "': shape " + shape_str(info.dims) + " has more than 2^48 elements");
    // The verifier does not check enum ranges: an unknown kind is a newer or corrupt file.
    if (v->kind() < fb::ValueKind_MIN || v->kind() > fb::ValueKind_MAX)
      fail(where + " '" + info.name + "': unknown value kind " + std::to_string(static_cast<int>(v->kind())));
    info.kind = static_cast<ValueKind>(v->kind());
    info.unknown_rank = v->unknown_rank();
    if (info.unknown_rank && !info.dims.empty())
      fail(where + " '" + info.name + "': has dimensions but says its rank is unknown");
    info.dim_names.assign(info.dims.size(), "");
    if (v->dim_names())
      for (flatbuffers::uoffset_t i = 0; i < v->dim_names()->size() && i < info.dims.size(); ++i)
        info.dim_names[i] = str(v->dim_names()->Get(i), where + " '" + info.name + "' dimension name");
    return info;
  }

  Attribute attribute(const fb::Attribute* a, const std::string& where) const {
    Attribute out;
    switch (a->kind()) {
      case fb::AttrKind_Int:
        out.kind = Attribute::Kind::Int;
        out.i = a->i();
        break;
      case fb::AttrKind_Float:
        out.kind = Attribute::Kind::Float;
        out.f = a->f();
        break;
      case fb::AttrKind_String:
        out.kind = Attribute::Kind::String;
        out.s = text_attr(a->s(), where);
        break;
      case fb::AttrKind_Ints:
        out.kind = Attribute::Kind::Ints;
        if (aligned(a->ints(), where)) out.ints.assign(a->ints()->begin(), a->ints()->end());
        break;
      case fb::AttrKind_Floats:
        out.kind = Attribute::Kind::Floats;
        if (aligned(a->floats(), where)) out.floats.assign(a->floats()->begin(), a->floats()->end());
        break;
      case fb::AttrKind_Strings:
        out.kind = Attribute::Kind::Strings;
        if (a->strings())
          for (const auto* s : *a->strings()) out.strings.push_back(text_attr(s, where));
        break;
      case fb::AttrKind_Tensor:
        out.kind = Attribute::Kind::Tensor;
        out.tensor = tensor(a->tensor(), where);
        break;
      case fb::AttrKind_Graph:
        out.kind = Attribute::Kind::Graph;
        out.graph = std::make_shared<Graph>(graph(a->graph(), where + " subgraph"));
        break;
      default: fail(where + ": unknown attribute kind " + std::to_string(static_cast<int>(a->kind())));
    }
    return out;
  }

  Graph graph(const fb::Graph* g, const std::string& where) const {
    if (!g) fail(where + ": missing graph");
    Graph out;
    if (g->inputs())
      for (const auto* v : *g->inputs()) out.inputs.push_back(value_info(v, where + " input"));
    if (g->outputs())
      for (const auto* v : *g->outputs()) out.outputs.push_back(value_info(v, where + " output"));
    if (g->initializers())
      for (const auto* t : *g->initializers()) {
        Tensor value = tensor(t, where + " initializer");
        out.initializers[str(t->name(), where + " initializer name")] = value;
      }
    if (g->nodes())
      for (const auto* n : *g->nodes()) {
        if (!n->op_type()) fail(where + ": a node has no op_type");
        Node node;
        std::string at = where + " node " + std::to_string(out.nodes.size());
        node.op_type = str(n->op_type(), at + " op_type");
        node.name = str(n->name(), at + " name");
        if (n->inputs())
          for (const auto* s : *n->inputs()) node.inputs.push_back(str(s, node.label() + " input name"));
        if (n->outputs())
          for (const auto* s : *n->outputs()) node.outputs.push_back(str(s, node.label() + " output name"));
        if (n->attrs())
          for (const auto* a : *n->attrs()) {
            if (!a->name()) fail(node.label() + ": an attribute has no name");
            std::string key = str(a->name(), node.label() + " attribute name");
            node.attrs[key] = attribute(a, node.label() + " attribute '" + key + "'");
          }
        out.nodes.push_back(std::move(node));
      }
    return out;
  }

 private:
  std::string name_;
  const uint8_t* weights_;
  uint64_t weights_size_;
  std::shared_ptr<void> owner_;
};

}  // namespace

std::shared_ptr<Model> load_model_from_memory(const uint8_t* data, size_t size, std::shared_ptr<void> owner,
                                              const std::string& name) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::Model, "invalid model file '" + name + "': " + what);
  };
  // Layout: uint32 size of the rest, then the FlatBuffer (size-prefixed buffer).
  if (size < 12) fail("file is empty or truncated (" + std::to_string(size) + " bytes)");
  if (!fb::SizePrefixedModelBufferHasIdentifier(data)) fail("not a Walle model (file identifier is not 'WALL')");
  uint32_t declared = flatbuffers::ReadScalar<uint32_t>(data);
  if (static_cast<uint64_t>(declared) + 4 != size)
    fail("truncated or extended: the header says " + std::to_string(declared + 4ull) + " bytes, the file has " +
         std::to_string(size));
  flatbuffers::Verifier::Options options;
  options.max_depth = 64;
  options.max_tables = 10000000;
  flatbuffers::Verifier verifier(data, size, options);
  if (!fb::VerifySizePrefixedModelBuffer(verifier)) fail("failed FlatBuffers verification (corrupted)");
  const fb::Model* m = fb::GetSizePrefixedModel(data);
  if (m->format_version() < kMinFormatVersion || m->format_version() > kFormatVersion)
    fail("format version " + std::to_string(m->format_version()) + " is not supported (this build reads versions " +
         std::to_string(kMinFormatVersion) + " to " + std::to_string(kFormatVersion) + ")");
  const uint8_t* weights = m->weights() ? m->weights()->data() : data;
  uint64_t weights_size = m->weights() ? m->weights()->size() : 0;
  Reader reader(name, weights, weights_size, owner);
  auto model = std::make_shared<Model>();
  model->graph = reader.graph(m->graph(), "graph");
  if (m->format_version() < 2)  // a writer of version 1 knew only tensors
    for (const auto* list : {&model->graph.inputs, &model->graph.outputs})
      for (const ValueInfo& v : *list)
        if (v.kind != ValueKind::Tensor || v.unknown_rank)
          fail("graph value '" + v.name + "' is " +
               (v.unknown_rank ? std::string("of unknown rank") : std::string("a ") + value_kind_name(v.kind)) +
               ", which format version 1 cannot hold");
  model->path = name;
  model->storage = owner;
  try {
    model->graph.check_topology();
  } catch (const Error& e) { fail(e.what()); }
  return model;
}

std::shared_ptr<Model> load_model(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::Model, "cannot open model file '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorKind::Model, "model path '" + path + "' is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    throw Error(ErrorKind::Model, "invalid model file '" + path + "': file is empty");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED)
    throw Error(ErrorKind::Model, "cannot map model file '" + path + "': " + std::strerror(errno));
  std::shared_ptr<void> owner(mapped, [size](void* p) { ::munmap(p, size); });
  auto model = load_model_from_memory(static_cast<const uint8_t*>(mapped), size, owner, path);
  model->mapped = static_cast<const uint8_t*>(mapped);
  model->mapped_size = size;
  return model;
}

void Model::release_pages(const void* data, size_t bytes) const {
  const auto begin = reinterpret_cast<uintptr_t>(data), end = begin + bytes;
  const auto map_begin = reinterpret_cast<uintptr_t>(mapped);
  if (!mapped || begin < map_begin || end > map_begin + mapped_size) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace walle
