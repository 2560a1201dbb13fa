// What the web demo shows happening, each an ordinary publisher to the hub: the stream
// generators (demo_streams), a simulated video processing pipeline (pipeline) and
// simulated uploads (uploads).
#pragma once

#include "demo_streams.hpp"
#include "pipeline.hpp"
#include "uploads.hpp"
