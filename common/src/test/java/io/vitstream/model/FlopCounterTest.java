package io.vitstream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vitstream.util.Json;
import java.util.List;
import org.junit.jupiter.api.Test;

class FlopCounterTest {
    // 8x8 grey image, 4x4 patches -> 4 patches + CLS = 5 tokens; dim 8; 3 classes.
    private static final VitConfig SMALL = new VitConfig(8, 1, 4, 0, 8, 3, List.of(
            new BlockConfig(2, 4, 16), // 2 heads of width 4, MLP 16
            new BlockConfig(1, 4, 8))); // 1 head of width 4, MLP 8

    @Test
    void denseCountMatchesHandComputation() {
        long patch = 4 * 8 * (4 * 4 * 1); //                       patches * dim * (p*p*C)        = 512
        long block1 = 5 * 8 * (3 * 8) //                             qkv: N * D * 3 * (H*Dh)          = 960
                + 2 * (2 * 5 * 5 * 4) //                             QK^T and AV: 2 * H * N^2 * Dh    = 400
                + 5 * 8 * 8 //                                       proj: N * (H*Dh) * D             = 320
                + 2 * 5 * 8 * 16; //                                 fc1 + fc2: 2 * N * D * M         = 1280
        long block2 = 5 * 8 * (3 * 4) + 2 * (1 * 5 * 5 * 4) + 5 * 4 * 8 + 2 * 5 * 8 * 8; // 480+200+160+640 = 1480
        long head = 8 * 3; //                                        classifier                       = 24
        assertThat(patch + block1 + block2 + head).isEqualTo(4976);
        assertThat(FlopCounter.perImage(SMALL)).isEqualTo(2 * 4976);
    }

    @Test
    void stemAndFewerTokensAreCounted() {
        VitConfig withStem = new VitConfig(8, 1, 4, 2, 8, 3, SMALL.blocks());
        long stem = 8 * 8 * 2 * (3 * 3 * 1); //                      H * W * stem channels * 9 * C    = 1152
        long patch = 4 * 8 * (4 * 4 * 2); //                          patch conv over the stem's 2 ch = 1024
        // Block 2 sees 3 tokens instead of 5.
        long block1 = 960 + 400 + 320 + 1280;
        long block2 = 3 * 8 * 12 + 2 * (1 * 3 * 3 * 4) + 3 * 4 * 8 + 2 * 3 * 8 * 8; // 288+72+96+384 = 840
        long expected = 2 * (stem + patch + block1 + block2 + 24);
        assertThat(FlopCounter.perImage(withStem, new int[] {5, 3})).isEqualTo(expected);
    }

    @Test
    void everyStemLayerIsCounted() {
        VitConfig twoLayers = new VitConfig(8, 1, 4, 2, 2, 8, 3, SMALL.blocks());
        long stem = 8 * 8 * 2 * (3 * 3 * 1) //                        first 3x3 conv: 1 -> 2 channels = 1152
                + 8 * 8 * 2 * (3 * 3 * 2); //                         second 3x3 conv: 2 -> 2 channels = 2304
        long patch = 4 * 8 * (4 * 4 * 2); //                          = 1024
        assertThat(FlopCounter.perImage(twoLayers)).isEqualTo(2 * (stem + patch + 2960 + 1480 + 24));
    }

    @Test
    void aPrunedStemCountsEachLayerAtItsOwnWidthAndRoundTripsThroughJson() throws Exception {
        VitConfig pruned = new VitConfig(8, 1, 4, 0, 0, 8, 3, SMALL.blocks(), List.of(3, 2));
        long stem = 8 * 8 * 3 * (3 * 3 * 1) //                       first 3x3 conv: 1 -> 3 channels = 1728
                + 8 * 8 * 2 * (3 * 3 * 3); //                         second 3x3 conv: 3 -> 2 channels = 3456
        long patch = 4 * 8 * (4 * 4 * 2); //                          over the last layer's 2 channels = 1024
        assertThat(FlopCounter.perImage(pruned)).isEqualTo(2 * (stem + patch + 2960 + 1480 + 24));
        assertThat(pruned.stemLayers()).isEqualTo(2);
        assertThat(pruned.stemChannels()).isEqualTo(2);
        String json = Json.MAPPER.writeValueAsString(pruned);
        assertThat(Json.MAPPER.readValue(json, VitConfig.class)).isEqualTo(pruned);
        // A manifest from before stem widths existed reads as a uniform stem.
        VitConfig old = Json.MAPPER.readValue(json.replaceAll(",?\"stem_widths\":\\[[^\\]]*\\]", ""),
                VitConfig.class);
        assertThat(old.stemWidths()).containsExactly(2, 2);
        assertThatThrownBy(() -> new VitConfig(8, 1, 4, 5, 2, 8, 3, SMALL.blocks(), List.of(3, 2)))
                .hasMessageContaining("disagree");
    }

    @Test
    void rejectsWrongNumberOfTokenCounts() {
        assertThatThrownBy(() -> FlopCounter.perImage(SMALL, new int[] {5}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("one token count per block");
    }
}
