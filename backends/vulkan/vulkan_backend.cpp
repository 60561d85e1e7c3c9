// The Vulkan backend: compute pipelines made from the SPIR-V compiled at build time (cached per
// entry and work-group size), one descriptor set and one command buffer per launch list,
// recorded once per plan (again only if its buffers change) and replayed every run. Submission
// is batched: run() only queues a kernel's command buffer; copies and sync() submit the batch
// with one vkQueueSubmit and wait for it.
//
// Memory: one host-visible, coherent allocation per buffer, mapped for its whole life, so
// copy_in/copy_out are memcpy after the queue drains. That is right for lavapipe and integrated
// GPUs; a discrete GPU would want device-local memory and staging copies (not done yet).
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "gpu/address_map.h"
#include "gpu/device_once.h"
#include "gpu/launch_backend.h"
#include "gpu/launch_plan.h"
#include "vulkan/vulkan_api.h"
#include "vulkan_spirv.h"  // generated: kSpirvModules

namespace walle {

namespace {

using vulkan::Api;
constexpr uint32_t kBindings = gpu::kSlots + 1;  // six slots + the parameter buffer

void check(VkResult r, const char* call) {
  if (r != VK_SUCCESS)
    throw Error(ErrorKind::Backend, std::string("Vulkan: ") + call + " failed: " + vulkan::result_text(r));
}

struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;
  size_t bytes = 0;
};

struct Device {
  Api* vk = nullptr;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0, memory_type = 0;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout pipeline_layout = VK_NULL_HANDLE;
  VkPipelineCache pipeline_cache = VK_NULL_HANDLE;
  VkCommandPool command_pool = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  Buffer dummy;
  std::string name;
  gpu::Capabilities caps;
  gpu::AddressMap addresses;
  std::mutex mutex;                             // guards the pool, the pipeline map and the pending batch
  std::map<std::string, VkPipeline> pipelines;  // "entry/lx,ly,lz"
  std::vector<VkCommandBuffer> pending;

  void open() {
    std::string why;
    vk = vulkan::api(&why);
    if (!vk) throw Error(ErrorKind::Backend, "Vulkan is unavailable: " + why);
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "walle";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pApplicationInfo = &app;
    VkResult r = vk->vkCreateInstance(&ici, nullptr, &instance);
    if (r != VK_SUCCESS)
      throw Error(ErrorKind::Backend, "Vulkan is unavailable: vkCreateInstance failed: " + vulkan::result_text(r) +
                                          " (install a driver such as mesa-vulkan-drivers)");
    std::string missing = vk->load_instance(instance);
    if (!missing.empty()) throw Error(ErrorKind::Backend, "Vulkan is unavailable: the loader lacks " + missing);
    uint32_t n = 0;
    vk->vkEnumeratePhysicalDevices(instance, &n, nullptr);
    if (n == 0)
      throw Error(ErrorKind::Backend,
                  "Vulkan is unavailable: no Vulkan device (install mesa-vulkan-drivers for lavapipe)");
    std::vector<VkPhysicalDevice> devices(n);
    vk->vkEnumeratePhysicalDevices(instance, &n, devices.data());
    physical = devices[0];
    for (VkPhysicalDevice d : devices) {  // a real GPU over a software rasterizer when both exist
      VkPhysicalDeviceProperties p;
      vk->vkGetPhysicalDeviceProperties(d, &p);
      if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
          p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU) {
        physical = d;
        break;
      }
    }
    VkPhysicalDeviceProperties props;
    vk->vkGetPhysicalDeviceProperties(physical, &props);
    name = props.deviceName;
    caps.small_types = false;  // our GLSL addresses 32-bit words only
    // llvmpipe's shader compiler (gallivm) gives every invocation 65535 loop iterations in all
    // and then ends its loops without a word; a margin for the planner's counts.
    if (name.find("llvmpipe") != std::string::npos) caps.max_loop_steps = 60000;
    caps.max_work_group = static_cast<int>(std::min<uint32_t>(props.limits.maxComputeWorkGroupInvocations, 1024));
    uint32_t nq = 0;
    vk->vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> families(nq);
    vk->vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, families.data());
    queue_family = nq;
    for (uint32_t i = 0; i < nq; ++i)
      if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        queue_family = i;
        break;
      }
    if (queue_family == nq) throw Error(ErrorKind::Backend, "Vulkan is unavailable: " + name + " has no compute queue");
    VkPhysicalDeviceMemoryProperties mem;
    vk->vkGetPhysicalDeviceMemoryProperties(physical, &mem);
    memory_type = mem.memoryTypeCount;
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
      if ((mem.memoryTypes[i].propertyFlags & want) == want) {
        memory_type = i;
        break;
      }
    if (memory_type == mem.memoryTypeCount)
      throw Error(ErrorKind::Backend, "Vulkan is unavailable: " + name + " has no host-visible coherent memory");
    float priority = 1;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    // Doubles where the device has them (Random's draws; kernel.comp's random_bernoulli).
    VkPhysicalDeviceFeatures supported{}, enabled{};
    vk->vkGetPhysicalDeviceFeatures(physical, &supported);
    enabled.shaderFloat64 = supported.shaderFloat64;
    caps.float64 = supported.shaderFloat64 == VK_TRUE;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.pEnabledFeatures = &enabled;
    check(vk->vkCreateDevice(physical, &dci, nullptr, &device), "vkCreateDevice");
    missing = vk->load_device(device);
    if (!missing.empty()) throw Error(ErrorKind::Backend, "Vulkan is unavailable: the driver lacks " + missing);
    vk->vkGetDeviceQueue(device, queue_family, 0, &queue);
    make_layouts();
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = queue_family;
    check(vk->vkCreateCommandPool(device, &pci, nullptr, &command_pool), "vkCreateCommandPool");
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check(vk->vkCreateFence(device, &fci, nullptr, &fence), "vkCreateFence");
    dummy = create_buffer(64);
  }

  void make_layouts() {
    std::vector<VkDescriptorSetLayoutBinding> bindings(kBindings);
    for (uint32_t i = 0; i < kBindings; ++i) {
      bindings[i] = {};
      bindings[i].binding = i;
      bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      bindings[i].descriptorCount = 1;
      bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo lci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    lci.bindingCount = kBindings;
    lci.pBindings = bindings.data();
    check(vk->vkCreateDescriptorSetLayout(device, &lci, nullptr, &set_layout), "vkCreateDescriptorSetLayout");
    VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(int32_t) * gpu::kSlots};
    VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &set_layout;
    plci.pushConstantRangeCount = 1;
    plci.pPushConstantRanges = &push;
    check(vk->vkCreatePipelineLayout(device, &plci, nullptr, &pipeline_layout), "vkCreatePipelineLayout");
    VkPipelineCacheCreateInfo cci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    check(vk->vkCreatePipelineCache(device, &cci, nullptr, &pipeline_cache), "vkCreatePipelineCache");
  }

  Buffer create_buffer(size_t bytes) {
    Buffer b;
    b.bytes = std::max<size_t>(bytes, 64);
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = b.bytes;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    check(vk->vkCreateBuffer(device, &bci, nullptr, &b.buffer), "vkCreateBuffer");
    VkMemoryRequirements req;
    vk->vkGetBufferMemoryRequirements(device, b.buffer, &req);
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = memory_type;
    check(vk->vkAllocateMemory(device, &mai, nullptr, &b.memory), "vkAllocateMemory");
    check(vk->vkBindBufferMemory(device, b.buffer, b.memory, 0), "vkBindBufferMemory");
    check(vk->vkMapMemory(device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped), "vkMapMemory");
    return b;
  }
  void destroy_buffer(const Buffer& b) {
    vk->vkDestroyBuffer(device, b.buffer, nullptr);
    vk->vkFreeMemory(device, b.memory, nullptr);  // unmaps too
  }

  // Pipeline for an entry and work-group size; the caller holds `mutex`.
  VkPipeline pipeline(const std::string& entry, const int local[3]) {
    std::string key =
        entry + "/" + std::to_string(local[0]) + "," + std::to_string(local[1]) + "," + std::to_string(local[2]);
    auto it = pipelines.find(key);
    if (it != pipelines.end()) return it->second;
    const SpirvModule* module = nullptr;
    for (const SpirvModule& m : kSpirvModules)
      if (entry == m.entry) module = &m;
    if (!module) throw Error(ErrorKind::Backend, "Vulkan: no SPIR-V for kernel " + entry);
    std::vector<uint32_t> code(module->size / 4);
    std::memcpy(code.data(), module->code, module->size);
    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smci.codeSize = module->size;
    smci.pCode = code.data();
    VkShaderModule shader;
    check(vk->vkCreateShaderModule(device, &smci, nullptr, &shader), "vkCreateShaderModule");
    // The work-group size is a specialization constant: one SPIR-V module, a pipeline per size.
    uint32_t sizes[3] = {static_cast<uint32_t>(local[0]), static_cast<uint32_t>(local[1]),
                         static_cast<uint32_t>(local[2])};
    VkSpecializationMapEntry map[3] = {{0, 0, 4}, {1, 4, 4}, {2, 8, 4}};
    VkSpecializationInfo spec{3, map, sizeof(sizes), sizes};
    VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = shader;
    cpci.stage.pName = "main";
    cpci.stage.pSpecializationInfo = &spec;
    cpci.layout = pipeline_layout;
    VkPipeline p;
    check(vk->vkCreateComputePipelines(device, pipeline_cache, 1, &cpci, nullptr, &p), "vkCreateComputePipelines");
    pipelines[key] = p;
    return p;
  }

  // Copies between host memory and a device address, after the queued kernels finish.
  void write(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    auto [handle, offset] = addresses.resolve(dst);
    std::lock_guard<std::mutex> lock(mutex);
    flush_locked();  // queued kernels may still read what this overwrites
    std::memcpy(static_cast<char*>(static_cast<Buffer*>(handle)->mapped) + offset, src, bytes);
  }
  void read(void* dst, const void* src, size_t bytes) {
    if (!bytes) return;
    auto [handle, offset] = addresses.resolve(src);
    std::lock_guard<std::mutex> lock(mutex);
    flush_locked();
    std::memcpy(dst, static_cast<const char*>(static_cast<Buffer*>(handle)->mapped) + offset, bytes);
  }

  // Submits the queued command buffers and waits for them; the caller holds `mutex`.
  void flush_locked() {
    if (pending.empty()) return;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = static_cast<uint32_t>(pending.size());
    si.pCommandBuffers = pending.data();
    check(vk->vkQueueSubmit(queue, 1, &si, fence), "vkQueueSubmit");
    check(vk->vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    check(vk->vkResetFences(device, 1, &fence), "vkResetFences");
    pending.clear();
  }
};

Device& device() { return gpu::open_device_once<Device>(); }

class VulkanKernel : public Kernel {
 public:
  VulkanKernel(Device& dev, std::vector<gpu::Launch> launches, std::string name, std::unique_ptr<gpu::HostRerun> rerun)
      : dev_(dev), launches_(std::move(launches)), name_(std::move(name)), rerun_(std::move(rerun)) {
    if (launches_.empty()) return;
    std::lock_guard<std::mutex> lock(dev_.mutex);
    if (rerun_) status_ = dev_.create_buffer(64);
    uint32_t n = static_cast<uint32_t>(launches_.size());
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n * kBindings};
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.maxSets = n;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &size;
    check(dev_.vk->vkCreateDescriptorPool(dev_.device, &dpci, nullptr, &pool_), "vkCreateDescriptorPool");
    std::vector<VkDescriptorSetLayout> layouts(n, dev_.set_layout);
    sets_.resize(n);
    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    dsai.descriptorPool = pool_;
    dsai.descriptorSetCount = n;
    dsai.pSetLayouts = layouts.data();
    check(dev_.vk->vkAllocateDescriptorSets(dev_.device, &dsai, sets_.data()), "vkAllocateDescriptorSets");
    for (const gpu::Launch& l : launches_) {
      Buffer p = dev_.create_buffer(l.params.size() * 4);
      if (!l.params.empty()) std::memcpy(p.mapped, l.params.data(), l.params.size() * 4);
      params_.push_back(p);
      pipelines_.push_back(dev_.pipeline(l.entry, l.local));
    }
    VkCommandBufferAllocateInfo cbai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cbai.commandPool = dev_.command_pool;
    cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cbai.commandBufferCount = 1;
    check(dev_.vk->vkAllocateCommandBuffers(dev_.device, &cbai, &commands_), "vkAllocateCommandBuffers");
  }
  ~VulkanKernel() override {
    if (launches_.empty()) return;
    std::lock_guard<std::mutex> lock(dev_.mutex);
    dev_.flush_locked();  // nothing of ours may still be queued
    dev_.vk->vkFreeCommandBuffers(dev_.device, dev_.command_pool, 1, &commands_);
    dev_.vk->vkDestroyDescriptorPool(dev_.device, pool_, nullptr);
    for (const Buffer& b : params_) dev_.destroy_buffer(b);
    if (status_.buffer != VK_NULL_HANDLE) dev_.destroy_buffer(status_);
  }

  void run(const KernelIO& io, ThreadPool& pool) override {
    if (launches_.empty() || queue(io) == 0) return;
    // The device met a case it must not decide (launch_plan.h, kStatus): the CPU decides.
    Device* dev = &dev_;
    rerun_->run(
        io, pool, [dev](void* d, const void* s, size_t n) { dev->read(d, s, n); },
        [dev](void* d, const void* s, size_t n) { dev->write(d, s, n); });
  }
  std::string name() const override { return name_; }

 private:
  // Queues the command buffer; a checked plan is submitted at once and its status word
  // returned (0 for unchecked plans, which stay batched).
  int32_t queue(const KernelIO& io) {
    std::vector<const void*> addresses = {io.output};
    addresses.insert(addresses.end(), io.inputs.begin(), io.inputs.end());
    std::lock_guard<std::mutex> lock(dev_.mutex);
    if (addresses != recorded_for_) {  // first run of this plan, or buffers moved: record again
      dev_.flush_locked();
      record(io);
      recorded_for_ = addresses;
    }
    // A command buffer may sit in a batch once (no SIMULTANEOUS_USE): a second run drains first.
    if (std::find(dev_.pending.begin(), dev_.pending.end(), commands_) != dev_.pending.end()) dev_.flush_locked();
    // Nothing queued uses the status word here: a checked plan never stays in a batch.
    if (rerun_) std::memset(status_.mapped, 0, 2 * sizeof(int32_t));  // the word and WL_LOOP_PROBE's
    dev_.pending.push_back(commands_);
    if (!rerun_) return 0;
    dev_.flush_locked();
    int32_t status;
    std::memcpy(&status, status_.mapped, sizeof(status));
    return status;
  }

  // Descriptor sets and the command buffer for these buffers; the caller holds dev_.mutex.
  void record(const KernelIO& io) {
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    check(dev_.vk->vkResetCommandBuffer(commands_, 0), "vkResetCommandBuffer");
    check(dev_.vk->vkBeginCommandBuffer(commands_, &begin), "vkBeginCommandBuffer");
    for (size_t i = 0; i < launches_.size(); ++i) {
      const gpu::Launch& l = launches_[i];
      VkDescriptorBufferInfo infos[kBindings];
      int32_t offsets[gpu::kSlots] = {0};
      for (int s = 0; s < gpu::kSlots; ++s) {
        const void* address =
            l.slots[s] == gpu::kOutput ? io.output : (l.slots[s] >= 0 ? io.inputs[l.slots[s]] : nullptr);
        const Buffer* b = l.slots[s] == gpu::kStatus ? &status_ : &dev_.dummy;
        if (address) {
          auto [handle, off] = dev_.addresses.resolve(address);
          b = static_cast<const Buffer*>(handle);
          offsets[s] = static_cast<int32_t>(off);
        }
        infos[s] = {b->buffer, 0, VK_WHOLE_SIZE};
      }
      infos[gpu::kSlots] = {params_[i].buffer, 0, VK_WHOLE_SIZE};
      VkWriteDescriptorSet writes[kBindings];
      for (uint32_t k = 0; k < kBindings; ++k) {
        writes[k] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[k].dstSet = sets_[i];
        writes[k].dstBinding = k;
        writes[k].descriptorCount = 1;
        writes[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[k].pBufferInfo = &infos[k];
      }
      dev_.vk->vkUpdateDescriptorSets(dev_.device, kBindings, writes, 0, nullptr);
      // Everything earlier in the queue (other kernels' writes) is visible to this dispatch.
      VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
      barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT;
      barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
      dev_.vk->vkCmdPipelineBarrier(commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
      dev_.vk->vkCmdBindPipeline(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, pipelines_[i]);
      dev_.vk->vkCmdBindDescriptorSets(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, dev_.pipeline_layout, 0, 1, &sets_[i],
                                       0, nullptr);
      dev_.vk->vkCmdPushConstants(commands_, dev_.pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(offsets),
                                  offsets);
      uint32_t groups[3];
      for (int d = 0; d < 3; ++d) groups[d] = static_cast<uint32_t>((l.global[d] + l.local[d] - 1) / l.local[d]);
      if (groups[0] && groups[1] && groups[2]) dev_.vk->vkCmdDispatch(commands_, groups[0], groups[1], groups[2]);
    }
    check(dev_.vk->vkEndCommandBuffer(commands_), "vkEndCommandBuffer");
  }

  Device& dev_;
  std::vector<gpu::Launch> launches_;
  std::string name_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorSet> sets_;
  std::vector<Buffer> params_;
  std::vector<VkPipeline> pipelines_;
  VkCommandBuffer commands_ = VK_NULL_HANDLE;
  std::vector<const void*> recorded_for_;
  std::unique_ptr<gpu::HostRerun> rerun_;
  Buffer status_;  // the status word of a checked plan
};

class VulkanBackend : public gpu::LaunchBackend {
 public:
  explicit VulkanBackend(Device& dev) : LaunchBackend("vulkan", "vk", dev.name, dev.caps), dev_(dev) {}

 protected:
  std::unique_ptr<Kernel> make_kernel(std::vector<gpu::Launch> launches, std::string label,
                                      std::unique_ptr<gpu::HostRerun> rerun) const override {
    for (gpu::Launch& l : launches)  // a work-group the device cannot take would fail pipeline creation
      while (l.local[0] * l.local[1] * l.local[2] > dev_.caps.max_work_group)
        (l.local[0] >= l.local[1] ? l.local[0] : l.local[1]) /= 2;
    return std::make_unique<VulkanKernel>(dev_, std::move(launches), std::move(label), std::move(rerun));
  }

 public:
  std::shared_ptr<void> allocate(size_t bytes) const override {
    auto* b = new Buffer(dev_.create_buffer(bytes));
    char* base = dev_.addresses.add(b, b->bytes);
    Device* dev = &dev_;
    return std::shared_ptr<void>(base, [dev, b](void* p) {
      {
        std::lock_guard<std::mutex> lock(dev->mutex);
        dev->flush_locked();
      }
      dev->addresses.remove(p);
      dev->destroy_buffer(*b);
      delete b;
    });
  }
  void copy_in(void* dst, const void* src, size_t bytes) const override { dev_.write(dst, src, bytes); }
  void copy_out(void* dst, const void* src, size_t bytes) const override { dev_.read(dst, src, bytes); }
  void sync() const override {
    std::lock_guard<std::mutex> lock(dev_.mutex);
    dev_.flush_locked();
  }

 private:
  Device& dev_;
};

}  // namespace

void register_vulkan_backend(std::vector<BackendFactory>& out) {
  out.push_back(
      {"vulkan", 20, [] { return gpu::device_status("vulkan", device); },
       [](const std::string&) -> std::shared_ptr<Backend> { return std::make_shared<VulkanBackend>(device()); }});
}

}  // namespace walle
