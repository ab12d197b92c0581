// Portability macros for the kernels: restrict qualifier and function multiversioning.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define GL_RESTRICT __restrict__
#else
#define GL_RESTRICT
#endif

// GL_MULTIVERSION: compile a hot loop for AVX-512 and AVX2+FMA next to the baseline and let the
// loader pick per CPU (ifunc), so wheels stay portable without -march=native. Only on x86-64
// ELF targets with GCC or clang; elsewhere (aarch64, macOS, MSVC) it expands to nothing.
#if !defined(GROUNDLITE_NO_MULTIVERSION) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
#define GL_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define GL_DISPATCH "runtime: x86-64-v4 | x86-64-v3 | baseline"
#else
#define GL_MULTIVERSION
#define GL_DISPATCH "none (compile-time ISA only)"
#endif

// Hot templates are force-inlined into the GL_MULTIVERSION entry points in bind_*.cpp, so each
// clone gets its own vectorised copy instead of calling one baseline instantiation.
#if defined(__GNUC__) || defined(__clang__)
#define GL_HOT_INLINE inline __attribute__((always_inline))
#else
#define GL_HOT_INLINE inline
#endif
