// Composite ops: name -> the function that decomposes it into atomic ops. Every op here is
// defined by its decomposition alone; what has none becomes a new atomic kind (ops/atomic.h).
#pragma once
#include <map>
#include <string>

#include "decompose/decomposer.h"

namespace walle {

using DecomposeFn = void (*)(Decomposer&);

struct CompositeOp {
  DecomposeFn decompose = nullptr;
};

using CompositeRegistry = std::map<std::string, CompositeOp>;

const CompositeRegistry& composite_ops();
const CompositeOp* find_composite(const std::string& op_type);

// One registration function per family file.
void register_elementwise_ops(CompositeRegistry& r);
void register_shape_ops(CompositeRegistry& r);
void register_movement_ops(CompositeRegistry& r);
void register_reduce_ops(CompositeRegistry& r);
void register_nn_ops(CompositeRegistry& r);
void register_math_ops(CompositeRegistry& r);
void register_loss_ops(CompositeRegistry& r);
void register_norm_ops(CompositeRegistry& r);
void register_index_ops(CompositeRegistry& r);
void register_quant_ops(CompositeRegistry& r);
void register_attention_ops(CompositeRegistry& r);
void register_resize_ops(CompositeRegistry& r);
void register_sequence_ops(CompositeRegistry& r);
void register_optional_ops(CompositeRegistry& r);
void register_control_flow_ops(CompositeRegistry& r);
void register_transformer_ops(CompositeRegistry& r);
void register_signal_ops(CompositeRegistry& r);
void register_conv_transpose_ops(CompositeRegistry& r);
void register_scatter_ops(CompositeRegistry& r);
void register_data_dependent_ops(CompositeRegistry& r);
void register_sampling_ops(CompositeRegistry& r);
void register_linear_attention_ops(CompositeRegistry& r);
void register_rnn_ops(CompositeRegistry& r);
void register_einsum_ops(CompositeRegistry& r);
void register_qlinear_ops(CompositeRegistry& r);
void register_training_ops(CompositeRegistry& r);
void register_tfidf_ops(CompositeRegistry& r);
void register_random_ops(CompositeRegistry& r);
void register_text_ops(CompositeRegistry& r);
void register_label_encoder_ops(CompositeRegistry& r);

// Shared by decompositions in several files.
int emit_conv(Decomposer& d, int x, int weight, int bias);  // Conv attributes of the current node
struct ConvAxis {
  int64_t in, kernel, stride, dilation, pad_begin, out;
};  // one resolved spatial axis
// NC[D]HW convolution with resolved axes; 3-d runs as 2-d convolutions summed over depth taps.
int emit_conv_axes(Decomposer& d, int x, int weight, int bias, int64_t group, const std::vector<ConvAxis>& axes);

}  // namespace walle
