// Reads a .walle file: maps it, runs the FlatBuffers verifier, checks the format version and
// every tensor's type, shape, size and alignment, then builds the Graph with weights pointing
// into the mapping (no copy). Any problem is Error(Model) naming the file and the field.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/model.h"

namespace walle {

// Versions read: 1, and 2 = 1 plus sequence and optional graph inputs/outputs
// (ValueInfo.kind, unknown_rank), which the converter writes only for models that use them.
constexpr uint32_t kMinFormatVersion = 1;
constexpr uint32_t kFormatVersion = 2;

std::shared_ptr<Model> load_model(const std::string& path);
// The same checks over bytes already in memory (`owner` keeps them alive).
std::shared_ptr<Model> load_model_from_memory(const uint8_t* data, size_t size, std::shared_ptr<void> owner,
                                              const std::string& name);

}  // namespace walle
