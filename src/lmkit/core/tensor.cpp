#include "lmkit/core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "lmkit/core/error.h"
#include "lmkit/core/mapped_file.h"

namespace lmkit {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U16: return 2;
    case DType::U8: return 1;
    case DType::I8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::U16: return "u16";
    case DType::U8: return "u8";
    case DType::I8: return "i8";
  }
  return "?";
}

void* aligned_alloc64(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void aligned_free(void* p) { std::free(p); }

std::shared_ptr<Storage> Storage::allocate(size_t bytes) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = static_cast<uint8_t*>(aligned_alloc64(bytes));
  std::memset(s->data_, 0, bytes);
  s->bytes_ = bytes;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(std::shared_ptr<const MappedFile> file, size_t offset,
                                         size_t bytes) {
  check(offset <= file->size() && bytes <= file->size() - offset,
        "'{}': data at offset {} of {} bytes runs past the end of the file ({} bytes)",
        file->path(), offset, bytes, file->size());
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = const_cast<uint8_t*>(file->data() + offset);
  s->bytes_ = bytes;
  s->file_ = std::move(file);
  return s;
}

Storage::~Storage() {
  if (!file_) aligned_free(data_);
}

namespace {
// Element count of `shape`, throwing on negative sizes or overflow (shapes come from files).
int64_t checked_numel(const Tensor::Shape& shape) {
  check(shape.size() <= size_t(Tensor::kMaxDims), "tensor has {} dims (max {})", shape.size(),
        Tensor::kMaxDims);
  int64_t n = 1;
  for (int64_t s : shape) {
    check(s >= 0, "negative tensor dimension {}", s);
    check(s == 0 || n <= std::numeric_limits<int64_t>::max() / 16 / s,
          "tensor dimensions overflow");
    n *= s;
  }
  return n;
}
}  // namespace

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t;
  int64_t n = checked_numel(shape);
  t.storage_ = Storage::allocate(size_t(n) * dtype_size(dtype));
  t.dtype_ = dtype;
  t.ndim_ = int(shape.size());
  int64_t stride = int64_t(dtype_size(dtype));
  for (int d = t.ndim_ - 1; d >= 0; --d) {
    t.shape_[d] = shape[d];
    t.strides_[d] = stride;
    stride *= shape[d];
  }
  return t;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& shape) {
  Tensor t = zeros(shape);
  check(size_t(t.numel()) == values.size(), "Tensor::from: {} values for shape {}",
        values.size(), t.shape_str());
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::view_of(std::shared_ptr<const MappedFile> file, size_t offset, const Shape& shape,
                       DType dtype) {
  int64_t n = checked_numel(shape);
  Tensor t;
  t.storage_ = Storage::borrow(std::move(file), offset, size_t(n) * dtype_size(dtype));
  t.dtype_ = dtype;
  t.ndim_ = int(shape.size());
  int64_t stride = int64_t(dtype_size(dtype));
  for (int d = t.ndim_ - 1; d >= 0; --d) {
    t.shape_[d] = shape[d];
    t.strides_[d] = stride;
    stride *= shape[d];
  }
  return t;
}

int Tensor::norm_dim(int d) const {
  int nd = d < 0 ? d + ndim_ : d;
  check(nd >= 0 && nd < ndim_, "dimension {} out of range for a {}-d tensor", d, ndim_);
  return nd;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int d = 0; d < ndim_; ++d) n *= shape_[d];
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t stride = int64_t(dtype_size(dtype_));
  for (int d = ndim_ - 1; d >= 0; --d) {
    if (shape_[d] != 1 && strides_[d] != stride) return false;
    stride *= shape_[d];
  }
  return true;
}

std::string Tensor::shape_str() const {
  std::string s = "(";
  for (int d = 0; d < ndim_; ++d) s += (d ? "," : "") + std::to_string(shape_[d]);
  return s + ")";
}

uint8_t* Tensor::raw() {
  check(storage_ != nullptr, "use of an undefined tensor");
  check(!storage_->read_only(), "attempt to write a read-only (memory-mapped) tensor");
  return storage_->data() + offset_;
}

const uint8_t* Tensor::raw() const {
  check(storage_ != nullptr, "use of an undefined tensor");
  return storage_->data() + offset_;
}

std::span<float> Tensor::f32() {
  check(dtype_ == DType::F32 && is_contiguous(), "tensor is not contiguous f32");
  return {data<float>(), size_t(numel())};
}

std::span<const float> Tensor::f32() const {
  check(dtype_ == DType::F32 && is_contiguous(), "tensor is not contiguous f32");
  return {data<float>(), size_t(numel())};
}

Tensor Tensor::slice(int dim, int64_t begin, int64_t end) const {
  int d = norm_dim(dim);
  check(0 <= begin && begin <= end && end <= shape_[d], "slice [{}, {}) out of range for {}",
        begin, end, shape_str());
  Tensor t = *this;
  t.offset_ += size_t(begin * strides_[d]);
  t.shape_[d] = end - begin;
  return t;
}

Tensor Tensor::select(int dim, int64_t index) const {
  int d = norm_dim(dim);
  Tensor t = slice(d, index, index + 1);
  for (int i = d; i + 1 < t.ndim_; ++i) {
    t.shape_[i] = t.shape_[i + 1];
    t.strides_[i] = t.strides_[i + 1];
  }
  --t.ndim_;
  return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
  Tensor t = *this;
  int a = norm_dim(d0), b = norm_dim(d1);
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  check(is_contiguous(), "reshape of a non-contiguous tensor {}", shape_str());
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      check(infer < 0, "reshape: more than one -1");
      infer = int(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) s[infer] = known == 0 ? 0 : numel() / known;
  check(checked_numel(s) == numel(), "reshape {} to a shape with a different size", shape_str());
  Tensor t = *this;
  t.ndim_ = int(s.size());
  int64_t stride = int64_t(dtype_size(dtype_));
  for (int d = t.ndim_ - 1; d >= 0; --d) {
    t.shape_[d] = s[d];
    t.strides_[d] = stride;
    stride *= s[d];
  }
  return t;
}

namespace {
float load_as_f32(const uint8_t* p, DType t) {
  switch (t) {
    case DType::F32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::F16: { f16 h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case DType::BF16: { bf16 h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
    case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return float(v); }
    case DType::U16: { uint16_t v; std::memcpy(&v, p, 2); return float(v); }
    case DType::U8: return float(*p);
    case DType::I8: return float(int8_t(*p));
  }
  return 0;
}
void store_from_f32(uint8_t* p, DType t, float f) {
  switch (t) {
    case DType::F32: std::memcpy(p, &f, 4); break;
    case DType::F16: { f16 h = f32_to_f16(f); std::memcpy(p, &h, 2); break; }
    case DType::BF16: { bf16 h = f32_to_bf16(f); std::memcpy(p, &h, 2); break; }
    case DType::I32: { int32_t v = int32_t(f); std::memcpy(p, &v, 4); break; }
    case DType::U16: { uint16_t v = uint16_t(f); std::memcpy(p, &v, 2); break; }
    case DType::U8: *p = uint8_t(f); break;
    case DType::I8: *p = uint8_t(int8_t(f)); break;
  }
}

// Calls fn(src_ptr, dst_index) for every element of `t` in row-major order.
template <typename F>
void for_each_element(const Tensor& t, F&& fn) {
  int nd = t.ndim();
  int64_t n = t.numel();
  std::array<int64_t, Tensor::kMaxDims> idx{};
  const uint8_t* base = t.raw();
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off += idx[d] * t.stride_bytes(d);
    fn(base + off, i);
    for (int d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.size(d)) break;
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor Tensor::contiguous() const { return to(dtype_); }

Tensor Tensor::to(DType dtype) const {
  Tensor out = zeros(shape(), dtype);
  out.copy_from(*this);
  return out;
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  for_each_element(*this, [&](const uint8_t* p, int64_t i) { v[size_t(i)] = load_as_f32(p, dtype_); });
  return v;
}

void Tensor::copy_from(const Tensor& src) {
  check(src.shape() == shape(), "copy_from: shape {} into {}", src.shape_str(), shape_str());
  check(is_contiguous(), "copy_from: destination must be contiguous");
  uint8_t* dst = raw();
  size_t es = dtype_size(dtype_);
  if (src.dtype_ == dtype_ && src.is_contiguous()) {
    std::memcpy(dst, src.raw(), nbytes());
    return;
  }
  for_each_element(src, [&](const uint8_t* p, int64_t i) {
    store_from_f32(dst + size_t(i) * es, dtype_, load_as_f32(p, src.dtype_));
  });
}

}  // namespace lmkit
