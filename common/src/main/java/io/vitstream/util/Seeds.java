package io.vitstream.util;

import ai.djl.engine.Engine;
import java.util.Random;

/** Deterministic seeding of every source of randomness: the engine's RNG (initialisation) and our Java RNGs (data order, augmentation). */
public final class Seeds {
    private Seeds() {}

    /** Seeds the engine and returns a Java RNG derived from the same seed. */
    public static Random seedAll(long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        return new Random(seed);
    }
}
