#include "engine/models/params.h"

#include <cstring>

#include "engine/error.h"

namespace mlfaas::models {

namespace {

std::vector<int64_t> dims_of(std::initializer_list<int64_t> shape) { return std::vector<int64_t>(shape); }

int64_t numel(std::initializer_list<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

void EmbeddingTable::row(int64_t r, float* out) const {
  const size_t offset = static_cast<size_t>(r * cols_);
  switch (type_) {
    case Type::F32: std::memcpy(out, static_cast<const float*>(data_) + offset, sizeof(float) * cols_); break;
    case Type::F16: {
      const uint16_t* h = static_cast<const uint16_t*>(data_) + offset;
      for (int64_t j = 0; j < cols_; ++j) out[j] = f16_to_f32(h[j]);
      break;
    }
    case Type::BF16: {
      const uint16_t* h = static_cast<const uint16_t*>(data_) + offset;
      for (int64_t j = 0; j < cols_; ++j) out[j] = bf16_to_f32(h[j]);
      break;
    }
  }
}

std::vector<float> EmbeddingTable::to_f32() const {
  std::vector<float> out(static_cast<size_t>(rows_ * cols_));
  for (int64_t r = 0; r < rows_; ++r) row(r, out.data() + r * cols_);
  return out;
}

ParamSource::ParamSource(const WeightFile& file, std::string prefix, WeightArena& arena, MlfWriter* recorder)
    : file_(&file), prefix_(std::move(prefix)), arena_(&arena), recorder_(recorder) {}

ParamSource::ParamSource(const MlfFile& compiled, const GemmKernel& kernel) : compiled_(&compiled), kernel_(&kernel) {}

std::span<const float> ParamSource::fetch(const std::string& stored_name, const std::string& key,
                                          std::initializer_list<int64_t> shape) {
  if (compiled_ != nullptr) {
    const MlfEntry& e = compiled_->require("t/" + key, MlfType::F32, shape);
    return {e.as<float>(), static_cast<size_t>(numel(shape))};
  }
  const size_t count = static_cast<size_t>(numel(shape));
  float* dst = arena_->allocate(count);
  file_->f32_into(stored_name, shape, dst);
  std::span<const float> out(dst, count);
  if (recorder_ != nullptr && !recorder_->has("t/" + key)) recorder_->add_f32("t/" + key, out, dims_of(shape));
  return out;
}

std::span<const float> ParamSource::tensor(const std::string& name, std::initializer_list<int64_t> shape) {
  return fetch(prefix_ + name, name, shape);
}

std::span<const float> ParamSource::head(const std::string& name, std::initializer_list<int64_t> shape) {
  return fetch(name, name, shape);
}

EmbeddingTable ParamSource::embedding(const std::string& name, int64_t rows, int64_t cols) {
  const std::string key = "t/" + name;
  if (compiled_ != nullptr) {
    const MlfEntry* e = compiled_->find(key);
    const MlfType type = e != nullptr && (e->type == MlfType::F16 || e->type == MlfType::BF16) ? e->type : MlfType::F32;
    const MlfEntry& found = compiled_->require(key, type, {rows, cols});
    return {type == MlfType::F16 ? EmbeddingTable::Type::F16
            : type == MlfType::BF16 ? EmbeddingTable::Type::BF16
                                    : EmbeddingTable::Type::F32,
            found.data, rows, cols};
  }
  const TensorView* t = file_->find(prefix_ + name);
  const bool half = t != nullptr && (t->dtype == DType::F16 || t->dtype == DType::BF16) &&
                    t->shape == std::vector<int64_t>{rows, cols};
  if (!half) {
    const std::span<const float> f = fetch(prefix_ + name, name, {rows, cols});  // fp32, with the reader's errors
    return {EmbeddingTable::Type::F32, f.data(), rows, cols};
  }
  const size_t bytes = static_cast<size_t>(rows * cols) * 2;
  float* dst = arena_->allocate((bytes + 3) / 4);
  std::memcpy(dst, t->data, bytes);  // the view may be unaligned; the copy is aligned
  const bool f16 = t->dtype == DType::F16;
  if (recorder_ != nullptr && !recorder_->has(key)) {
    recorder_->add(key, f16 ? MlfType::F16 : MlfType::BF16, {rows, cols}, dst, bytes);
  }
  return {f16 ? EmbeddingTable::Type::F16 : EmbeddingTable::Type::BF16, dst, rows, cols};
}

bool ParamSource::flag(const std::string& key, bool answer_from_file) {
  const std::string entry = "f/" + key;
  if (compiled_ != nullptr) return compiled_->require(entry, MlfType::I32, {1}).as<int32_t>()[0] != 0;
  if (recorder_ != nullptr && !recorder_->has(entry)) {
    const int32_t v = answer_from_file ? 1 : 0;
    recorder_->add_i32(entry, {&v, 1});
  }
  return answer_from_file;
}

bool ParamSource::has(const std::string& name) {
  return flag(name, file_ != nullptr && file_->find(prefix_ + name) != nullptr);
}

bool ParamSource::has_head(const std::string& name) { return flag(name, file_ != nullptr && file_->find(name) != nullptr); }

std::vector<float> ParamSource::read(const std::string& name, std::initializer_list<int64_t> shape) const {
  if (file_ == nullptr) throw std::logic_error("ParamSource::read on a compiled model");
  return file_->f32(prefix_ + name, shape);
}

std::vector<float> ParamSource::read_head(const std::string& name, std::initializer_list<int64_t> shape) const {
  if (file_ == nullptr) throw std::logic_error("ParamSource::read_head on a compiled model");
  return file_->f32(name, shape);
}

PackedLinear ParamSource::linear(const std::string& key, int out, int in, const std::function<PackedLinear()>& build) {
  const std::string base = "l/" + key + ".";
  if (compiled_ == nullptr) {
    PackedLinear layer = build();
    if (layer.out() != out || layer.in() != in) throw std::logic_error("linear " + key + ": built with another shape");
    if (recorder_ != nullptr) {
      const PackedLinearParts& p = layer.parts();
      const int32_t meta[8] = {p.out, p.in, p.int8 ? 1 : 0, p.nr, p.kp, p.panel_count, p.bias ? 1 : 0,
                               p.scale ? 1 : 0};
      recorder_->add_i32(base + "meta", meta);
      recorder_->add(base + "panels", p.int8 ? MlfType::I8 : MlfType::F32, {p.panel_count, p.kp, p.nr}, p.panels,
                     p.panel_bytes());
      if (p.bias) recorder_->add_f32(base + "bias", {p.bias, static_cast<size_t>(out)});
      if (p.scale) {
        recorder_->add_f32(base + "scale", {p.scale, static_cast<size_t>(out)});
        recorder_->add_f32(base + "shift", {p.shift, static_cast<size_t>(out)});
      }
      if (p.int8) {
        recorder_->add_f32(base + "wscale", {p.wscale, static_cast<size_t>(out)});
        recorder_->add_i32(base + "colsum", {p.colsum, static_cast<size_t>(out)});
      }
    }
    return layer;
  }

  // Everything a kernel will index is checked here, so a damaged file is refused at load, never read past.
  const MlfFile& f = *compiled_;
  const int32_t* meta = f.require(base + "meta", MlfType::I32, {8}).as<int32_t>();
  PackedLinearParts p;
  p.out = meta[0];
  p.in = meta[1];
  p.int8 = meta[2] != 0;
  p.nr = meta[3];
  p.kp = meta[4];
  p.panel_count = meta[5];
  auto bad = [&](const std::string& problem) { throw FormatError(f.path(), "linear '" + key + "': " + problem); };
  if (p.out != out || p.in != in) {
    bad("is " + std::to_string(p.out) + " x " + std::to_string(p.in) + ", the config needs " + std::to_string(out) +
        " x " + std::to_string(in));
  }
  if (p.int8) {
    if (meta[2] != 1 || p.nr != kInt8Nr || p.kp != (in + 3) / 4 * 4) bad("int8 panels of an unknown layout");
    if (in > kInt8MaxK) bad("int8 layer with more than " + std::to_string(kInt8MaxK) + " inputs");
  } else {
    if (p.kp != in || (p.nr != 16 && p.nr != 32)) bad("fp32 panels of an unknown layout");
    if (p.nr != kernel_->nr && !(p.nr == 16 && kernel_->fn16 != nullptr)) {
      bad("fp32 weights packed in " + std::to_string(p.nr) + "-column panels, which the " +
          std::string(isa_name(kernel_->isa)) + " kernels cannot run; recompile with --isa " +
          std::string(isa_name(kernel_->isa)));
    }
  }
  if (p.panel_count != (out + p.nr - 1) / p.nr) bad("wrong panel count");
  const auto panel_dims = {static_cast<int64_t>(p.panel_count), static_cast<int64_t>(p.kp), static_cast<int64_t>(p.nr)};
  p.panels = f.require(base + "panels", p.int8 ? MlfType::I8 : MlfType::F32, panel_dims).data;
  const auto vec = {static_cast<int64_t>(out)};
  if (meta[6]) p.bias = f.require(base + "bias", MlfType::F32, vec).as<float>();
  if (meta[7]) {
    p.scale = f.require(base + "scale", MlfType::F32, vec).as<float>();
    p.shift = f.require(base + "shift", MlfType::F32, vec).as<float>();
  }
  if (p.int8) {
    p.wscale = f.require(base + "wscale", MlfType::F32, vec).as<float>();
    p.colsum = f.require(base + "colsum", MlfType::I32, vec).as<int32_t>();
    // A code sum outside what `in` codes of -127..127 can add up to would overflow the kernels' int32 correction.
    for (int j = 0; j < out; ++j) {
      if (p.colsum[j] > 127 * in || p.colsum[j] < -127 * in) bad("int8 column sum out of range");
    }
  }
  return PackedLinear::view(p);
}

}  // namespace mlfaas::models
