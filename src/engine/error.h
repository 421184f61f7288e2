#pragma once
// The engine's errors are the project's common ones (common/error.h, which depends on nothing), so that the load
// tester and the experiment runner share them without linking the engine.
#include "common/error.h"
