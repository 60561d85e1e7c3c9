#version 450
// One compute shader per kernel of backends/gpu/kernels.inc: CMake runs glslc on this file once
// per entry with -DWL_WANT_<entry>, giving one SPIR-V module each (embedded in the library).
#extension GL_GOOGLE_include_directive : require
#include "prelude.glsl"
#include "op_codes.inc"
#include "../gpu/kernels.inc"
