// Tensor: a typed, strided view of a shared buffer (ggml_tensor / torch.Tensor style).
//
// Shapes are listed outermost first (torch order): a (B,T,C) activation has shape
// {B,T,C} and, when contiguous, byte strides {T*C*4, C*4, 4}. Views (slice, transpose,
// reshape, narrow) share the buffer and copy nothing. Owned buffers are 64-byte aligned;
// a tensor may instead view a read-only memory-mapped file (weights are not copied).
// Compute is f32; f16/bf16 are storage types converted exactly (core/half.h).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lmkit/core/half.h"

namespace lmkit {

class MappedFile;

enum class DType : uint8_t { F32, F16, BF16, I32, U16, U8, I8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

// A buffer: owned (64-byte aligned heap) or borrowed from a mapped file (read-only).
class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t bytes);  // zero-filled
  static std::shared_ptr<Storage> borrow(std::shared_ptr<const MappedFile> file, size_t offset,
                                         size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }
  bool read_only() const { return file_ != nullptr; }

 private:
  Storage() = default;
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
  std::shared_ptr<const MappedFile> file_;
};

// 64-byte aligned allocation (AVX-512 lines). free with aligned_free.
void* aligned_alloc64(size_t bytes);
void aligned_free(void* p);

class Tensor {
 public:
  static constexpr int kMaxDims = 6;
  using Shape = std::vector<int64_t>;

  Tensor() = default;
  // A new zero-filled contiguous tensor.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor from(const std::vector<float>& values, const Shape& shape);
  // A read-only view of `file` bytes at `offset` (bounds-checked against the file size).
  static Tensor view_of(std::shared_ptr<const MappedFile> file, size_t offset, const Shape& shape,
                        DType dtype);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  int ndim() const { return ndim_; }
  int64_t size(int d) const { return shape_[norm_dim(d)]; }
  int64_t stride_bytes(int d) const { return strides_[norm_dim(d)]; }
  Shape shape() const { return Shape(shape_.begin(), shape_.begin() + ndim_); }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  bool read_only() const { return storage_ && storage_->read_only(); }
  std::string shape_str() const;

  // Raw pointer to element [0,...,0].
  uint8_t* raw();
  const uint8_t* raw() const;
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(raw());
  }
  // The f32 elements of a contiguous F32 tensor.
  std::span<float> f32();
  std::span<const float> f32() const;

  // Views (no copy).
  Tensor slice(int dim, int64_t begin, int64_t end) const;  // [begin, end) along dim
  Tensor select(int dim, int64_t index) const;              // drops dim
  Tensor transpose(int d0, int d1) const;
  Tensor reshape(const Shape& shape) const;  // contiguous tensors only; one -1 allowed

  // Copies.
  Tensor contiguous() const;          // same dtype
  Tensor to(DType dtype) const;       // converts (f32 <-> f16/bf16 round-to-nearest-even)
  std::vector<float> to_vector() const;  // any float dtype, any strides -> f32 values
  void copy_from(const Tensor& src);     // same shape; converts dtype

 private:
  int norm_dim(int d) const;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  int ndim_ = 0;
  std::array<int64_t, kMaxDims> shape_{};
  std::array<int64_t, kMaxDims> strides_{};  // bytes
};

}  // namespace lmkit
