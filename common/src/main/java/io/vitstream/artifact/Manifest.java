package io.vitstream.artifact;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.vitstream.data.InputSpec;
import io.vitstream.model.SparsifierConfig;
import io.vitstream.model.VitConfig;
import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json} of a model artifact: everything needed to rebuild, check and describe the model.
 *
 * @param formatVersion artifact format; loaders refuse versions they do not know
 * @param version model version id (for example {@code base-20261128T0800})
 * @param parentVersion version this one was derived from (pruned or fine-tuned), or null
 * @param architecture full architecture: the model is built from this alone
 * @param classNames label index to name
 * @param input input size and normalisation
 * @param flopsPerImage dense FLOPs per image (2 per multiply-add, see FlopCounter)
 * @param parameters number of scalar weights
 * @param testAccuracy top-1 accuracy on the held-out test set, measured after training (null if not measured)
 * @param validationAccuracy top-1 accuracy on the validation split taken from the training data
 * @param training recipe: command, epochs, optimiser, schedule, augmentation, seed, data sizes, wall time
 * @param weights weights file name, size and sha256
 * @param createdAt ISO-8601 UTC
 * @param sparsifier token-sparsification stages and trained keep-ratio range (null: dense model)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(
        int formatVersion,
        String version,
        String parentVersion,
        VitConfig architecture,
        List<String> classNames,
        InputSpec input,
        long flopsPerImage,
        long parameters,
        Double testAccuracy,
        Double validationAccuracy,
        Map<String, Object> training,
        WeightsInfo weights,
        String createdAt,
        SparsifierConfig sparsifier) {

    /** A manifest of a dense model (no sparsifier). */
    public Manifest(int formatVersion, String version, String parentVersion, VitConfig architecture,
            List<String> classNames, InputSpec input, long flopsPerImage, long parameters, Double testAccuracy,
            Double validationAccuracy, Map<String, Object> training, WeightsInfo weights, String createdAt) {
        this(formatVersion, version, parentVersion, architecture, classNames, input, flopsPerImage, parameters,
                testAccuracy, validationAccuracy, training, weights, createdAt, null);
    }

    /** The only format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;

    /** @param file name inside the artifact directory */
    public record WeightsInfo(String file, long sizeBytes, String sha256) {}

    public Manifest withWeights(WeightsInfo w) {
        return new Manifest(formatVersion, version, parentVersion, architecture, classNames, input, flopsPerImage,
                parameters, testAccuracy, validationAccuracy, training, w, createdAt, sparsifier);
    }

    public Manifest withAccuracy(Double test, Double validation) {
        return new Manifest(formatVersion, version, parentVersion, architecture, classNames, input, flopsPerImage,
                parameters, test, validation, training, weights, createdAt, sparsifier);
    }
}
