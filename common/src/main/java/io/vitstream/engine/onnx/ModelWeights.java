package io.vitstream.engine.onnx;

import ai.djl.nn.Parameter;
import io.vitstream.model.VitModel;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A model's weights as plain float arrays by their stable dotted names ({@code block3.attention.qkv.weight}), copied
 * once from a loaded, verified {@link VitModel}, so that graphs for new keep ratios can be written later without the
 * DJL model.
 */
public final class ModelWeights {
    /** One weight: its shape and row-major values. */
    public record Tensor(long[] shape, float[] data) {
        public Tensor {
            long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            if (n != data.length) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n + " values, got "
                        + data.length);
            }
        }

        /** Size of dimension {@code axis}. */
        public int dim(int axis) {
            return (int) shape[axis];
        }
    }

    private final Map<String, Tensor> byName;

    public ModelWeights(Map<String, Tensor> byName) {
        this.byName = Collections.unmodifiableMap(new LinkedHashMap<>(byName));
    }

    /** Copies every parameter of {@code model}. */
    public static ModelWeights of(VitModel model) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
            var array = e.getValue().getArray();
            out.put(e.getKey(), new Tensor(array.getShape().getShape(), array.toFloatArray()));
        }
        return new ModelWeights(out);
    }

    public Map<String, Tensor> asMap() {
        return byName;
    }

    /** Tracks which weights a writer has used, so that a weight it does not know is an error, not silently lost. */
    final class Reader {
        private final TreeSet<String> unused = new TreeSet<>(byName.keySet());

        Tensor take(String name) {
            Tensor t = byName.get(name);
            if (t == null) {
                throw new UnsupportedModelException("the model has no weight '" + name + "' that its architecture"
                        + " needs");
            }
            unused.remove(name);
            return t;
        }

        boolean has(String name) {
            return byName.containsKey(name);
        }

        /** Marks a weight as read without using it (a part of the model this graph does not run). */
        void skip(String prefix) {
            unused.removeIf(n -> n.startsWith(prefix));
        }

        void requireAllUsed() {
            if (!unused.isEmpty()) {
                throw new UnsupportedModelException("weights with no ONNX mapping: " + unused);
            }
        }
    }

    Reader reader() {
        return new Reader();
    }
}
