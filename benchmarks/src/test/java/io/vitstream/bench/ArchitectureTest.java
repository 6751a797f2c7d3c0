package io.vitstream.bench;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The build's check on the layout: no package of any module's production code depends, through others, on itself.
 * This module's test class path holds every module, so one import sees them all.
 */
class ArchitectureTest {
    private static final JavaClasses PRODUCTION = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .withImportOption(location -> !location.contains("-tests.jar"))
            .importPackages("io.vitstream");

    @Test
    void everyModuleIsImported() {
        Set<String> packages = PRODUCTION.stream().map(c -> c.getPackageName()).collect(Collectors.toSet());
        assertThat(packages).contains("io.vitstream.model", "io.vitstream.sparsity", "io.vitstream.training",
                "io.vitstream.serving", "io.vitstream.controller", "io.vitstream.controller.http", "io.vitstream.cli", "io.vitstream.bench", "io.vitstream.testkit")
                .doesNotContain("io.vitstream.testing");
    }

    @Test
    void noPackageCycles() {
        slices().matching("io.vitstream.(**)").should().beFreeOfCycles().check(PRODUCTION);
    }
}
