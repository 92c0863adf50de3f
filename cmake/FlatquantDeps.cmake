# Finds every dependency. Nothing here downloads: scripts/setup.sh installs packages on Debian; on the
# GPU machine LibTorch comes from the Python torch and missing pieces from FLATQUANT_DEPS_PREFIX.

if(EXISTS "${FLATQUANT_DEPS_PREFIX}")
  # Unpacked Debian packages go first so that their headers win over partial system installs.
  list(PREPEND CMAKE_PREFIX_PATH "${FLATQUANT_DEPS_PREFIX}" "${FLATQUANT_DEPS_PREFIX}/lib/x86_64-linux-gnu/cmake")
  set(Boost_NO_SYSTEM_PATHS ON)
  set(BOOST_ROOT "${FLATQUANT_DEPS_PREFIX}")
  list(APPEND CMAKE_BUILD_RPATH "${FLATQUANT_DEPS_PREFIX}/lib/x86_64-linux-gnu")
  list(APPEND CMAKE_INSTALL_RPATH "${FLATQUANT_DEPS_PREFIX}/lib/x86_64-linux-gnu")
  message(STATUS "flatquant: private dependency prefix ${FLATQUANT_DEPS_PREFIX}")
endif()

find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(MPI REQUIRED COMPONENTS C)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(yaml-cpp REQUIRED)
find_package(Boost 1.71 REQUIRED COMPONENTS program_options)

find_path(NLOHMANN_JSON_INCLUDE_DIR nlohmann/json.hpp HINTS "${FLATQUANT_DEPS_PREFIX}/include" REQUIRED)
find_path(PCRE2_INCLUDE_DIR pcre2.h HINTS "${FLATQUANT_DEPS_PREFIX}/include" REQUIRED)
find_library(PCRE2_LIBRARY NAMES pcre2-8 HINTS "${FLATQUANT_DEPS_PREFIX}/lib/x86_64-linux-gnu" REQUIRED)

# yaml-cpp 0.7 exports `yaml-cpp`, 0.8 `yaml-cpp::yaml-cpp`.
if(TARGET yaml-cpp::yaml-cpp)
  set(FLATQUANT_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(FLATQUANT_YAML_TARGET yaml-cpp)
endif()

# CUDA is used only when LibTorch itself was built with it: kernels exchange tensors with torch.
set(FLATQUANT_HAVE_CUDA OFF)
set(FLATQUANT_HAVE_NCCL OFF)
if(FLATQUANT_CUDA AND TARGET torch_cuda)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # LibTorch's CMake config appends -gencode flags for its own architecture list (detected or a default
    # that may name architectures CUDA 13 dropped) to CMAKE_CUDA_FLAGS and turns CMAKE_CUDA_ARCHITECTURES
    # off; flatquant picks its architecture itself (FLATQUANT_CUDA_GENCODE, used by kernels/).
    string(REGEX REPLACE "-gencode[ =]arch=[^ ]+" "" CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    set(FLATQUANT_CUDA_GENCODE "-gencode=arch=compute_90a,code=sm_90a" CACHE STRING
        "nvcc target of the CUDA kernels (sm_90a: the wgmma GEMM needs Hopper's arch-specific target)")
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(FLATQUANT_HAVE_CUDA ON)
    execute_process(COMMAND python3 -c "import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))"
                    OUTPUT_VARIABLE _py_nccl OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS $ENV{NCCL_ROOT}/include ${_py_nccl}/include ${CUDAToolkit_INCLUDE_DIRS})
    find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS $ENV{NCCL_ROOT}/lib ${_py_nccl}/lib ${CUDAToolkit_LIBRARY_DIR})
    if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
      set(FLATQUANT_HAVE_NCCL ON)
    endif()
  endif()
endif()
