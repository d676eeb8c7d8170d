#include "kube_csr_approver/observability/memory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define KCA_SANITIZER_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KCA_SANITIZER_ALLOCATOR 1
#endif

namespace kca {
namespace {

long RssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// 32 MiB in blocks small enough for the heap (not mmap), freed but for the last one, which keeps
// them below the heap's top: malloc's automatic trimming cannot reach them, only
// ReleaseFreedMemory can (what a relist's pages leave behind).
TEST(ReleaseFreedMemoryTest, GivesFreedHeapPagesBackToTheSystem) {
#if defined(KCA_SANITIZER_ALLOCATOR) || !defined(__GLIBC__)
  GTEST_SKIP() << "glibc's malloc only (a sanitizer brings its own allocator)";
#else
  constexpr std::size_t kBlock = 16 * 1024;
  constexpr std::size_t kBlocks = 2048;
  std::vector<char*> blocks;
  blocks.reserve(kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    blocks.push_back(static_cast<char*>(std::malloc(kBlock)));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, kBlock);
  }
  for (std::size_t i = 0; i + 1 < kBlocks; ++i) std::free(blocks[i]);
  const long before = RssKib();
  ReleaseFreedMemory();
  const long after = RssKib();
  std::free(blocks.back());
  ASSERT_GT(before, 0);
  EXPECT_GT(before - after, 16 * 1024)
      << "VmRSS " << before << " kB before, " << after << " kB after";
#endif
}

#if !defined(KCA_SANITIZER_ALLOCATOR) && defined(__GLIBC__)
// The arenas glibc's malloc has, from malloc_info's report (one <heap nr="..."> per arena).
int MallocArenas() {
  char* report = nullptr;
  std::size_t size = 0;
  FILE* stream = open_memstream(&report, &size);
  if (stream == nullptr) return -1;
  malloc_info(0, stream);
  std::fclose(stream);
  int arenas = 0;
  for (const char* at = report; (at = std::strstr(at, "<heap nr=")) != nullptr; ++at) ++arenas;
  std::free(report);
  return arenas;
}
#endif

// Threads allocating at the same time get arenas of their own (here, without the cap, 3 arenas
// for 8 threads); capped at one, they all share the main arena. CTest runs each test in a process
// of its own, which starts with that one arena.
TEST(LimitMallocArenasTest, ThreadsAllocatingAtOnceShareTheCappedArenas) {
#if defined(KCA_SANITIZER_ALLOCATOR) || !defined(__GLIBC__)
  GTEST_SKIP() << "glibc's malloc only (a sanitizer brings its own allocator)";
#else
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) GTEST_SKIP() << "MALLOC_ARENA_MAX is set";
  const int before = MallocArenas();
  ASSERT_GT(before, 0);
  LimitMallocArenas(1);
  constexpr int kThreads = 8;
  std::latch all_started(kThreads);
  std::latch all_allocated(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      all_started.arrive_and_wait();  // every thread's first allocation at the same time
      void* block = std::malloc(1024);
      all_allocated.arrive_and_wait();
      std::free(block);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(MallocArenas(), before);
#endif
}

}  // namespace
}  // namespace kca
