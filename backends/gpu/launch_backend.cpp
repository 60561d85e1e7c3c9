// HostRerun (launch_backend.h): the CPU reference kernel standing behind a checked device plan.
#include "gpu/launch_backend.h"

namespace walle::gpu {

namespace {

size_t bytes_of(const AtomicTensor& t) { return static_cast<size_t>(numel(t.shape)) * dtype_size(t.dtype); }

}  // namespace

HostRerun::HostRerun(const AtomicOp& op, const AtomicGraph& g)
    // The reference kernels: the ground truth the device kernels are tested against.
    : cpu_(make_backend("cpu-reference")), kernel_(cpu_->make(op, g)) {
  kernel_->plan(op, g);
  for (int id : op.inputs) in_bytes_.push_back(id >= 0 ? bytes_of(g.tensors[id]) : 0);
  out_bytes_ = bytes_of(g.tensors[op.output]);
}

void HostRerun::run(const KernelIO& io, ThreadPool& pool, const Copy& copy_out, const Copy& copy_in) const {
  // Host copies of the operands; std::vector storage is aligned for any element type.
  std::vector<std::vector<uint64_t>> inputs(io.inputs.size());
  KernelIO host;
  for (size_t k = 0; k < io.inputs.size(); ++k) {
    if (!io.inputs[k]) {
      host.inputs.push_back(nullptr);
      continue;
    }
    inputs[k].resize((in_bytes_[k] + 7) / 8 + 1);
    copy_out(inputs[k].data(), io.inputs[k], in_bytes_[k]);
    host.inputs.push_back(inputs[k].data());
  }
  std::vector<uint64_t> output((out_bytes_ + 7) / 8 + 1), scratch((kernel_->scratch_bytes() + 7) / 8);
  host.output = output.data();
  host.scratch = scratch.empty() ? nullptr : scratch.data();
  kernel_->run(host, pool);  // throws the CPU's error for input it rejects
  copy_in(io.output, output.data(), out_bytes_);
}

}  // namespace walle::gpu
