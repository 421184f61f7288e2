#pragma once
// Moved to common/codec.h (the platform and the runtime share it without the platform depending on the
// runtime); kept so that code not yet updated still builds.
#include "common/codec.h"
