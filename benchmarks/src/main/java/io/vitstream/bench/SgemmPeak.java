package io.vitstream.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.vitstream.engine.EngineKind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;

/**
 * The machine's sgemm peak as each engine reaches it: achieved GFLOP/s (2 n^3 FLOPs per product) of an n x n by
 * n x n float matrix product, best of timed blocks. ONNX Runtime: a one-node {@code MatMul} graph (MLAS's sgemm),
 * session with {@code threads} intra-op threads; PyTorch: DJL's {@code NDArray.matMul} (PyTorch's BLAS) with its
 * process-wide threads set to {@code threads} while it runs.
 */
final class SgemmPeak implements AutoCloseable {
    /** Side of the square matrices: large enough that the product is compute-bound on a CPU. */
    static final int N = 1024;

    private final int threads;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final OnnxTensor a;
    private final OnnxTensor b;
    private final OnnxTensor c;
    private final NDManager manager = NDManager.newBaseManager();
    private final NDArray left;
    private final NDArray right;

    SgemmPeak(int threads) {
        this.threads = threads;
        float[] values = new float[N * N];
        Random random = new Random(42);
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat() * 2 - 1;
        }
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setInterOpNumThreads(1);
            so.setIntraOpNumThreads(threads);
            session = env.createSession(matMulGraph().toByteArray(), so);
            a = OnnxTensor.createTensor(env, direct(values), new long[] {N, N});
            b = OnnxTensor.createTensor(env, direct(values), new long[] {N, N});
            // The product lands in a preallocated output, as PyTorch's lands in its allocator's cached block.
            c = OnnxTensor.createTensor(env, direct(new float[N * N]), new long[] {N, N});
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot run a one-node MatMul: " + e.getMessage(), e);
        }
        left = manager.create(values, new Shape(N, N));
        right = manager.create(values, new Shape(N, N));
    }

    /** How the figure of {@code kind} is measured, for table headers. */
    static String how(EngineKind kind) {
        return kind.resolve() == EngineKind.PYTORCH ? "DJL NDArray.matMul" : "one-node MatMul graph";
    }

    /** GFLOP/s of the best block of 4 products within about {@code seconds} (after one untimed product). */
    double gflops(EngineKind kind, double seconds) {
        Runnable product = kind.resolve() == EngineKind.PYTORCH ? this::pyTorchProduct : this::onnxProduct;
        BenchEngines.usePyTorchThreads(kind, threads);
        product.run();
        double best = 0;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        do {
            long t = System.nanoTime();
            int reps = 4;
            for (int r = 0; r < reps; r++) {
                product.run();
            }
            double secs = (System.nanoTime() - t) / 1e9;
            best = Math.max(best, reps * 2.0 * N * N * N / secs / 1e9);
        } while (System.nanoTime() < end);
        return best;
    }

    private void onnxProduct() {
        try (OrtSession.Result ignored = session.run(Map.of("a", a, "b", b), Map.of("c", c))) {
            // the product is all that is timed
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime MatMul failed: " + e.getMessage(), e);
        }
    }

    private void pyTorchProduct() {
        left.matMul(right).close();
    }

    private static FloatBuffer direct(float[] values) {
        FloatBuffer buffer = ByteBuffer.allocateDirect(4 * values.length).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        buffer.put(values).flip();
        return buffer;
    }

    /** c = MatMul(a, b), all (N, N) floats; opset 17, IR version 8 as the served graphs. */
    private static ModelProto matMulGraph() {
        GraphProto graph = GraphProto.newBuilder().setName("sgemm")
                .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("matmul").addInput("a").addInput("b")
                        .addOutput("c"))
                .addInput(square("a")).addInput(square("b")).addOutput(square("c"))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("vitstream bench model")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(graph).build();
    }

    private static ValueInfoProto square(String name) {
        TensorShapeProto.Dimension n = TensorShapeProto.Dimension.newBuilder().setDimValue(N).build();
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT.getNumber())
                        .setShape(TensorShapeProto.newBuilder().addDim(n).addDim(n)))).build();
    }

    @Override
    public void close() {
        manager.close();
        a.close();
        b.close();
        c.close();
        try {
            session.close();
        } catch (OrtException e) {
            // closing at the end of a benchmark: nothing left to measure
        }
    }
}
