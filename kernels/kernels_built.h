// Whether this build compiled Fathom's CUDA kernels (kernels/*.cu, with nvcc), which it does when
// its LibTorch has CUDA and CMAKE_CUDA_COMPILER is set (cmake/FathomCuda.cmake). Callers choose a
// fused kernel only when this is true and their tensors are on a CUDA device.
#ifndef FATHOM_KERNELS_KERNELS_BUILT_H_
#define FATHOM_KERNELS_KERNELS_BUILT_H_

namespace fathom::kernels {

// True when nvcc compiled the kernels into this binary; constant for the build.
bool CudaKernelsBuilt();

}  // namespace fathom::kernels

#endif  // FATHOM_KERNELS_KERNELS_BUILT_H_
