// The Vulkan entry points we use, loaded at run time: libvulkan.so.1 is dlopen'ed and every
// function comes from vkGetInstanceProcAddr / vkGetDeviceProcAddr, so a build with Vulkan
// imports and runs on a machine without a Vulkan loader or driver (reported, not crashed).
#pragma once
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <string>

namespace walle::vulkan {

// clang-format off: a macro's list of expansions, laid out by hand
#define WALLE_VK_INSTANCE_FUNCTIONS(X)                                                                  \
  X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) X(vkGetPhysicalDeviceQueueFamilyProperties) \
  X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceFeatures) X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkDestroyInstance)

#define WALLE_VK_DEVICE_FUNCTIONS(X)                                                                    \
  X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements)             \
  X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkCreateShaderModule)      \
  X(vkCreateDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkCreateComputePipelines)                  \
  X(vkCreatePipelineCache) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool)                         \
  X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool)                          \
  X(vkAllocateCommandBuffers) X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)     \
  X(vkResetCommandBuffer) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdPushConstants)         \
  X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkQueueSubmit) X(vkCreateFence) X(vkWaitForFences)         \
  X(vkResetFences)

struct Api {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
  PFN_vkCreateInstance vkCreateInstance = nullptr;
#define WALLE_VK_MEMBER(name) PFN_##name name = nullptr;
  WALLE_VK_INSTANCE_FUNCTIONS(WALLE_VK_MEMBER)
  WALLE_VK_DEVICE_FUNCTIONS(WALLE_VK_MEMBER)
#undef WALLE_VK_MEMBER
  // clang-format on

  // Loads the instance-level functions of `instance`; returns the first one missing, or "".
  std::string load_instance(VkInstance instance);
  std::string load_device(VkDevice device);
};

// The loader's global functions, or nullptr with `why` set.
Api* api(std::string* why);

std::string result_text(VkResult r);

}  // namespace walle::vulkan
