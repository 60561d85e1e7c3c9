/* A qemu-user TCG plugin that counts the guest instructions a program executes: all of them,
 * and those in the A64 "scalar floating-point and Advanced SIMD data processing" encoding
 * group (bits 27..25 = 111), where every NEON arithmetic instruction lives. Prints
 * "insns N fp_simd M" to stderr at exit. Counts are added inline per translated block, so the
 * cost is small; counters are plain (not atomic): measure with one guest thread.
 *
 * Debian's qemu-user is built with plugin support but ships no plugins and no qemu-plugin.h,
 * so the few entry points of QEMU's stable plugin C API (version 1, QEMU 4.2 .. 8.x) used
 * here are declared below. Build for the host:
 *   cc -shared -fPIC -O2 -o qemu_insn_count.so bench/arm/qemu_insn_count.c
 * Run:  qemu-aarch64 -plugin ./qemu_insn_count.so -L /usr/aarch64-linux-gnu PROGRAM ARGS */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb* tb, enum qemu_plugin_op op, void* ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
const void* qemu_plugin_insn_data(const struct qemu_plugin_insn* insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn* insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t insns, fp_simd;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  uint64_t simd = 0;
  for (size_t i = 0; i < n; ++i) {
    const struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    uint32_t word = 0;
    if (qemu_plugin_insn_size(insn) == 4) memcpy(&word, qemu_plugin_insn_data(insn), 4);
    if (((word >> 25) & 7u) == 7u) ++simd;
  }
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, n);
  if (simd) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &fp_simd, simd);
}

static void on_exit(qemu_plugin_id_t id, void* userdata) {
  (void)id, (void)userdata;
  /* stderr, not qemu_plugin_outs: that one prints only under "-d plugin". */
  fprintf(stderr, "insns %" PRIu64 " fp_simd %" PRIu64 "\n", insns, fp_simd);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                                               char** argv) {
  (void)info, (void)argc, (void)argv;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
