#include "vulkan/vulkan_api.h"

#include <dlfcn.h>

namespace walle::vulkan {

Api* api(std::string* why) {
  static Api a;
  static std::string failure;
  static bool ok = [] {
    void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      failure =
          "no Vulkan loader (libvulkan.so.1) on this machine; install libvulkan1 and a driver such as "
          "mesa-vulkan-drivers";
      return false;
    }
    a.vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
    if (!a.vkGetInstanceProcAddr) {
      failure = "the Vulkan loader lacks vkGetInstanceProcAddr";
      return false;
    }
    a.vkCreateInstance = reinterpret_cast<PFN_vkCreateInstance>(a.vkGetInstanceProcAddr(nullptr, "vkCreateInstance"));
    if (!a.vkCreateInstance) failure = "the Vulkan loader lacks vkCreateInstance";
    return a.vkCreateInstance != nullptr;
  }();
  if (!ok && why) *why = failure;
  return ok ? &a : nullptr;
}

std::string Api::load_instance(VkInstance instance) {
#define WALLE_VK_LOAD(name)                                                    \
  name = reinterpret_cast<PFN_##name>(vkGetInstanceProcAddr(instance, #name)); \
  if (!name) return #name;
  WALLE_VK_INSTANCE_FUNCTIONS(WALLE_VK_LOAD)
#undef WALLE_VK_LOAD
  return "";
}

std::string Api::load_device(VkDevice device) {
#define WALLE_VK_LOAD(name)                                                \
  name = reinterpret_cast<PFN_##name>(vkGetDeviceProcAddr(device, #name)); \
  if (!name) return #name;
  WALLE_VK_DEVICE_FUNCTIONS(WALLE_VK_LOAD)
#undef WALLE_VK_LOAD
  return "";
}

std::string result_text(VkResult r) {
  switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER (no Vulkan driver installed?)";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    default: return "VkResult " + std::to_string(static_cast<int>(r));
  }
}

}  // namespace walle::vulkan
