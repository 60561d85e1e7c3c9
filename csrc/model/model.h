// A loaded model: its graph, the file it came from, and the mapping its weights live in
// (model/loader.h makes one; sessions plan and run it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "graph/graph.h"

namespace walle {

struct Model {
  Graph graph;
  std::string path;
  std::shared_ptr<void> storage;  // keeps mapped weights alive
  // The model file's read-only private mapping (load_model), or empty (loaded from memory).
  const uint8_t* mapped = nullptr;
  size_t mapped_size = 0;

  // Gives the whole pages of [data, data + bytes) inside the mapping back to the OS. Only a
  // memory hint: the pages were never written, so reading them again refetches them from the
  // file (the page cache). Used once a kernel has packed a weight into its own copy.
  void release_pages(const void* data, size_t bytes) const;
};

}  // namespace walle
