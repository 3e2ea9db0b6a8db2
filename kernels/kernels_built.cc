#include "kernels/kernels_built.h"

namespace fathom::kernels {

bool CudaKernelsBuilt() {
#if FATHOM_KERNELS_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace fathom::kernels
