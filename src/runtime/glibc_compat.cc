// The bootstrap carries libstdc++ statically, and libstdc++ built against glibc 2.36 calls arc4random (new in
// 2.36) from std::random_device. provided.al2023 has glibc 2.34, where the binary would then not load.
// Defining arc4random here binds that call to this implementation at link time instead.
#include <sys/random.h>

#include <cstdint>
#include <ctime>

extern "C" uint32_t arc4random(void) {
  uint32_t value = 0;
  if (getrandom(&value, sizeof value, 0) != sizeof value) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    value = uint32_t(ts.tv_nsec ^ (ts.tv_sec << 20));
  }
  return value;
}
