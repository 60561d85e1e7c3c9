#include "decompose/registry.h"

namespace walle {

const CompositeRegistry& composite_ops() {
  static const CompositeRegistry registry = [] {
    CompositeRegistry r;
    register_elementwise_ops(r);
    register_shape_ops(r);
    register_movement_ops(r);
    register_reduce_ops(r);
    register_nn_ops(r);
    register_math_ops(r);
    register_loss_ops(r);
    register_norm_ops(r);
    register_index_ops(r);
    register_quant_ops(r);
    register_attention_ops(r);
    register_resize_ops(r);
    register_sequence_ops(r);
    register_optional_ops(r);
    register_control_flow_ops(r);
    register_transformer_ops(r);
    register_signal_ops(r);
    register_conv_transpose_ops(r);
    register_scatter_ops(r);
    register_data_dependent_ops(r);
    register_sampling_ops(r);
    register_linear_attention_ops(r);
    register_rnn_ops(r);
    register_einsum_ops(r);
    register_qlinear_ops(r);
    register_training_ops(r);
    register_tfidf_ops(r);
    register_random_ops(r);
    register_text_ops(r);
    register_label_encoder_ops(r);
    return r;
  }();
  return registry;
}

const CompositeOp* find_composite(const std::string& op_type) {
  auto it = composite_ops().find(op_type);
  return it == composite_ops().end() ? nullptr : &it->second;
}

}  // namespace walle
