# Decides, after find_package(Torch), whether this build gets the NCCL backend (comm/).
#
#   -DFATHOM_NCCL=AUTO  (default) when the LibTorch found has CUDA and NCCL is found
#   -DFATHOM_NCCL=ON    required: configuring fails, saying what is missing
#   -DFATHOM_NCCL=OFF   never (GPU runs are then single-process only)
#
# A CUDA LibTorch 2.x from pip, with the nvidia-nccl wheel it depends on:
#   cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
#     -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')" \
#     -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
#     -DNCCL_ROOT="$(python3 -c 'import nvidia.nccl as n;print(n.__path__[0])')"
# (NCCL_ROOT may be left out: FindNCCL.cmake looks beside the torch package first.)
#
# Sets FATHOM_TORCH_CUDA, FATHOM_WITH_NCCL and FATHOM_KERNELS_CUDA (ON/OFF).
#
# Fathom's own CUDA kernels (kernels/*.cu) are compiled when LibTorch has CUDA and a CUDA compiler
# is named (-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc), for the architectures of
#   -DFATHOM_CUDA_ARCHITECTURES="90"   (default: H100/H200; e.g. "80;90" for A100 too)
# set on that target alone: LibTorch's CMake config resets CMAKE_CUDA_ARCHITECTURES, and a
# cache may hold another value, so neither is used.

set(FATHOM_NCCL AUTO CACHE STRING
    "Build the NCCL backend: AUTO (when LibTorch has CUDA and NCCL is found), ON or OFF")
set_property(CACHE FATHOM_NCCL PROPERTY STRINGS AUTO ON OFF)

# TorchConfig.cmake puts its ABI flag on every target that links torch. Debian's Abseil,
# protobuf, GoogleTest and SentencePiece use the C++11 ABI (std::string and friends differ), so
# a LibTorch built with the old ABI links with them only into undefined symbols. pip wheels of
# torch up to 2.5 are built that way; 2.6 and later, and the libtorch "cxx11-abi" archives, are not.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR
    "The LibTorch found (${Torch_DIR}, version ${Torch_VERSION}) is built with "
    "_GLIBCXX_USE_CXX11_ABI=0, but the Abseil, protobuf and GoogleTest this build links use the "
    "C++11 ABI. Use torch >= 2.6 from pip (built with the C++11 ABI), or a libtorch "
    "'cxx11-abi' archive, and point CMAKE_PREFIX_PATH at it.")
endif()

# With a system LibTorch installed too (Debian's libtorch-dev), TorchConfig's find_library can pick
# the system libtorch.so under the wheel's headers: the build then links one version and
# compiles against another. Naming the wheel's lib/ in CMAKE_LIBRARY_PATH avoids it (not the
# torch directory in CMAKE_PREFIX_PATH: the wheel's protoc and protobuf headers would then be
# taken for the system's); this check makes the mistake loud.
get_filename_component(_fathom_torch_prefix "${TORCH_INSTALL_PREFIX}" REALPATH)
get_filename_component(_fathom_torch_library "${TORCH_LIBRARY}" REALPATH)
string(FIND "${_fathom_torch_library}" "${_fathom_torch_prefix}/" _fathom_torch_at)
if(NOT _fathom_torch_at EQUAL 0)
  message(FATAL_ERROR
    "LibTorch's headers come from ${TORCH_INSTALL_PREFIX} (version ${Torch_VERSION}) but its "
    "library from ${TORCH_LIBRARY}: add -DCMAKE_LIBRARY_PATH=$TORCH/lib (with "
    "-DCMAKE_PREFIX_PATH=$TORCH/share/cmake, TORCH=site-packages/torch)")
endif()

set(FATHOM_TORCH_CUDA OFF)
# CAFFE2_USE_CUDA comes from Caffe2Config.cmake, torch_cuda and c10_cuda from its targets,
# TORCH_CUDA_LIBRARIES from TorchConfig.cmake; LibTorch versions set different ones of these.
if(CAFFE2_USE_CUDA OR TARGET torch_cuda OR TARGET c10_cuda OR TORCH_CUDA_LIBRARIES)
  set(FATHOM_TORCH_CUDA ON)
endif()

set(FATHOM_WITH_NCCL OFF)
if(FATHOM_NCCL STREQUAL "OFF")
  message(STATUS "Fathom: NCCL backend off (FATHOM_NCCL=OFF)")
elseif(NOT FATHOM_TORCH_CUDA)
  if(FATHOM_NCCL STREQUAL "ON")
    message(FATAL_ERROR "FATHOM_NCCL=ON, but the LibTorch found (${Torch_DIR}, version "
      "${Torch_VERSION}) has no CUDA: point CMAKE_PREFIX_PATH at a CUDA LibTorch")
  endif()
  message(STATUS "Fathom: LibTorch ${Torch_VERSION} without CUDA: CPU build, MPI backend only")
else()
  find_package(CUDAToolkit)
  find_package(NCCL)
  if(NCCL_FOUND AND TARGET CUDA::cudart)
    set(FATHOM_WITH_NCCL ON)
    message(STATUS "Fathom: NCCL backend with NCCL ${NCCL_VERSION} (${NCCL_LIBRARY}), LibTorch "
      "${Torch_VERSION} with CUDA ${CUDAToolkit_VERSION}")
  elseif(FATHOM_NCCL STREQUAL "ON")
    message(FATAL_ERROR "FATHOM_NCCL=ON, but NCCL (nccl.h, libnccl.so.2) or the CUDA runtime was "
      "not found: set NCCL_ROOT to the directory holding include/nccl.h and lib/libnccl.so.2 "
      "(pip's nvidia-nccl wheel: site-packages/nvidia/nccl)")
  else()
    message(WARNING "Fathom: LibTorch has CUDA but NCCL was not found, so GPU runs are limited to "
      "one process: set NCCL_ROOT to the directory holding include/nccl.h and lib/libnccl.so.2")
  endif()
endif()

set(FATHOM_CUDA_ARCHITECTURES "90" CACHE STRING
    "CUDA architectures the kernels of kernels/ are compiled for (90: H100, H200)")
set(FATHOM_KERNELS_CUDA OFF)
if(FATHOM_TORCH_CUDA AND CMAKE_CUDA_COMPILER)
  set(FATHOM_KERNELS_CUDA ON)
  # Every target links the shared CUDA runtime, the one LibTorch loads (CMake's default is the
  # static one, which would be a second runtime beside LibTorch's in the same process).
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  # LibTorch's CMake config appends its own nvcc flags to CMAKE_CUDA_FLAGS: a -gencode for every
  # architecture the wheel was built for (sm_50 among them, which CUDA 13's nvcc refuses) and
  # options for its own sources. Dropping that normal variable leaves the cache's flags (empty
  # unless given) and the architectures of FATHOM_CUDA_ARCHITECTURES.
  unset(CMAKE_CUDA_FLAGS)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "Fathom: CUDA kernels of kernels/ compiled by ${CMAKE_CUDA_COMPILER} for "
    "architectures ${FATHOM_CUDA_ARCHITECTURES}")
elseif(FATHOM_TORCH_CUDA)
  message(WARNING "Fathom: LibTorch has CUDA but no CMAKE_CUDA_COMPILER is set, so kernels/ is "
    "built without its CUDA kernels (the fused paths fall back to LibTorch): configure with "
    "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc")
endif()
