#include "sidecar/common/c_handle.h"

#include <type_traits>
#include <utility>

#include "gtest/gtest.h"

namespace sidecar {
namespace {

struct Thing {
  int* frees;
};

int g_frees = 0;
void FreeThing(Thing* thing) {
  ++*thing->frees;
  delete thing;
}
using ThingPtr = CHandle<Thing, FreeThing>;

TEST(CHandleTest, IsPointerSizedAndFreesExactlyOnce) {
  static_assert(sizeof(ThingPtr) == sizeof(Thing*), "stateless deleter");
  g_frees = 0;
  {
    ThingPtr a(new Thing{&g_frees});
    ThingPtr b = std::move(a);
    EXPECT_EQ(a, nullptr);
    EXPECT_EQ(g_frees, 0);
  }
  EXPECT_EQ(g_frees, 1);
}

TEST(CHandleTest, NullHandleIsNeverFreed) {
  g_frees = 0;
  { ThingPtr empty; }
  EXPECT_EQ(g_frees, 0);
}

TEST(CHandleTest, ReleaseHandsOwnershipBack) {
  g_frees = 0;
  Thing* raw = nullptr;
  {
    ThingPtr owned(new Thing{&g_frees});
    raw = owned.release();
  }
  EXPECT_EQ(g_frees, 0);
  FreeThing(raw);
  EXPECT_EQ(g_frees, 1);
}

}  // namespace
}  // namespace sidecar
