package io.vitstream.engine.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A small builder over ONNX's protobuf messages: nodes with generated output names, initializers with little-endian
 * raw data, inputs and outputs with a symbolic batch dimension. Opset 17, IR version 8 (the pair ONNX Runtime 1.2x
 * reads). It knows nothing about transformers; {@link VitOnnxExporter} writes the model with it.
 */
final class OnnxGraph {
    static final long OPSET = 17;
    static final long IR_VERSION = 8;
    /** Name of the symbolic batch dimension of inputs and outputs. */
    static final String BATCH = "batch";

    /** ONNX Runtime's own operators (fused attention); version 1 of the domain. */
    static final String CONTRIB_DOMAIN = "com.microsoft";

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private int counter;
    private boolean usesContrib;

    OnnxGraph(String name) {
        graph.setName(name);
    }

    /** A float input; a dimension of -1 is the symbolic batch. */
    String input(String name, long... dims) {
        graph.addInput(valueInfo(name, TensorProto.DataType.FLOAT, dims));
        return name;
    }

    /** Declares {@code value} a graph output of this element type under its own name. */
    void output(String value, TensorProto.DataType type, long... dims) {
        graph.addOutput(valueInfo(value, type, dims));
    }

    /** One node with one output; returns the output's name. */
    String op(String type, String[] inputs, AttributeProto... attributes) {
        return ops(type, 1, inputs, attributes)[0];
    }

    /** One node with {@code outputs} outputs; returns their names. */
    String[] ops(String type, int outputs, String[] inputs, AttributeProto... attributes) {
        int id = counter++;
        String[] names = new String[outputs];
        for (int i = 0; i < outputs; i++) {
            names[i] = type.toLowerCase() + id + (outputs > 1 ? "_" + i : "");
        }
        return node(type, names, inputs, attributes);
    }

    /** One node of ONNX Runtime's contrib domain ({@code com.microsoft}) with one output. */
    String contrib(String type, String[] inputs, AttributeProto... attributes) {
        usesContrib = true;
        String out = type.toLowerCase() + counter++;
        addNode(CONTRIB_DOMAIN, type, new String[] {out}, inputs, attributes);
        return out;
    }

    /** One node whose outputs carry the given names (graph outputs, for instance). */
    String[] node(String type, String[] outputs, String[] inputs, AttributeProto... attributes) {
        addNode("", type, outputs, inputs, attributes);
        return outputs;
    }

    private void addNode(String domain, String type, String[] outputs, String[] inputs, AttributeProto... attributes) {
        NodeProto.Builder node = NodeProto.newBuilder().setDomain(domain).setOpType(type)
                .setName(type + "_" + counter++);
        for (String in : inputs) {
            node.addInput(in);
        }
        for (String out : outputs) {
            node.addOutput(out);
        }
        for (AttributeProto a : attributes) {
            node.addAttribute(a);
        }
        graph.addNode(node);
    }

    /** A float initializer. */
    String floats(String name, float[] data, long... dims) {
        ByteBuffer raw = ByteBuffer.allocate(4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(data);
        return initializer(name, TensorProto.DataType.FLOAT, raw, dims);
    }

    /** An int64 initializer. */
    String longs(String name, long[] data, long... dims) {
        ByteBuffer raw = ByteBuffer.allocate(8 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        raw.asLongBuffer().put(data);
        return initializer(name, TensorProto.DataType.INT64, raw, dims);
    }

    /** A 1-D int64 constant (shapes, axes, K of TopK). */
    String longs(long... values) {
        return longs("const" + counter++, values, values.length);
    }

    /** An int64 constant of shape {@code dims}. */
    String longTensor(long[] data, long... dims) {
        return longs("const" + counter++, data, dims);
    }

    /** A float constant of shape {@code dims}. */
    String floatTensor(float[] data, long... dims) {
        return floats("const" + counter++, data, dims);
    }

    /** A float scalar constant. */
    String scalar(float value) {
        return floats("const" + counter++, new float[] {value});
    }

    /** An int64 scalar constant (an index for Gather). */
    String index(long value) {
        return longs("const" + counter++, new long[] {value});
    }

    private String initializer(String name, TensorProto.DataType type, ByteBuffer raw, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
        for (long d : dims) {
            t.addDims(d);
        }
        raw.rewind();
        graph.addInitializer(t.setRawData(ByteString.copyFrom(raw)));
        return name;
    }

    ModelProto model(String producer, String docString) {
        ModelProto.Builder model = ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName(producer)
                .setDocString(docString)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET));
        if (usesContrib) {
            model.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(CONTRIB_DOMAIN).setVersion(1));
        }
        return model.setGraph(graph).build();
    }

    static AttributeProto attr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    static AttributeProto attr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    static String[] in(String... names) {
        return names;
    }

    private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam(BATCH)
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape)))
                .build();
    }
}
