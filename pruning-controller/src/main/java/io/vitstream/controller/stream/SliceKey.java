package io.vitstream.controller.stream;

/** Key of the metrics slices: one model version at one keep ratio. */
record SliceKey(String version, double keepRatio) {}
