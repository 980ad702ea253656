package dev.concertbook.opensearch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.opensearch.Version;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch server in one JVM: OpenSearch's {@link Node} with the modules a
 * distribution would load from modules/ given as classpath plugins, and Korean analysis.
 *
 * <pre>
 * java -Xms512m -Xmx512m -cp 'concertbook-opensearch.jar:lib/*' dev.concertbook.opensearch.EmbeddedOpenSearch \
 *     [--http-port 9200] [--home DIR] [--cluster-name NAME] [-E setting=value ...]
 * </pre>
 *
 * Defaults come from the system properties {@code concertbook.opensearch.http_port},
 * {@code concertbook.opensearch.home} and {@code concertbook.opensearch.cluster_name}. Data
 * lives under HOME/data. Listens on 127.0.0.1 only, without security (none is bundled). Prints
 * one line starting with {@value #STARTED} when it answers HTTP; SIGTERM closes it cleanly.
 */
public final class EmbeddedOpenSearch extends Node {

    /** The start of the line printed once the node is started. */
    public static final String STARTED = "concertbook-opensearch started";

    static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,
        CommonAnalysisPlugin.class,
        PainlessPlugin.class,
        MapperExtrasPlugin.class,
        ReindexPlugin.class,
        KoreanAnalysisPlugin.class
    );

    EmbeddedOpenSearch(Environment environment) {
        super(environment, PLUGINS, true);
    }

    /** The settings of a node from the command line and system properties. */
    static Settings settings(String[] args) {
        String httpPort = System.getProperty("concertbook.opensearch.http_port", "9200");
        String home = System.getProperty(
            "concertbook.opensearch.home", Path.of(System.getProperty("java.io.tmpdir"), "concertbook-opensearch").toString());
        String clusterName = System.getProperty("concertbook.opensearch.cluster_name", "concertbook");
        List<String> extra = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--http-port" -> httpPort = value(args, ++i, arg);
                case "--home" -> home = value(args, ++i, arg);
                case "--cluster-name" -> clusterName = value(args, ++i, arg);
                case "-E" -> extra.add(value(args, ++i, arg));
                default -> {
                    if (arg.startsWith("-E") && arg.length() > 2) {
                        extra.add(arg.substring(2));
                    } else {
                        throw new IllegalArgumentException("unknown argument: " + arg);
                    }
                }
            }
        }
        Path homePath = Path.of(home).toAbsolutePath().normalize();
        Settings.Builder builder = Settings.builder()
            .put("path.home", homePath.toString())
            .put("path.data", homePath.resolve("data").toString())
            .put("path.logs", homePath.resolve("logs").toString())
            .put("cluster.name", clusterName)
            .put("node.name", clusterName + "-node")
            .put("discovery.type", "single-node")
            .put("http.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.host", "127.0.0.1")
            // Another server may run next to this one (tests in parallel): any free port.
            .put("transport.port", "0")
            // Tests write little on machines whose disks may be nearly full; never go read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        for (String setting : extra) {
            int eq = setting.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected -E setting=value, got: " + setting);
            }
            builder.put(setting.substring(0, eq), setting.substring(eq + 1));
        }
        return builder.build();
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    public static void main(String[] args) throws Exception {
        Settings settings = settings(args);
        Path home = Path.of(settings.get("path.home"));
        Path config = home.resolve("config");
        Files.createDirectories(config);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), config, () -> settings.get("node.name"));
        EmbeddedOpenSearch node = new EmbeddedOpenSearch(environment);

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(20, TimeUnit.SECONDS)) {
                    System.out.println("concertbook-opensearch: not closed within 20 s");
                }
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "concertbook-opensearch-shutdown"));

        node.start();
        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        System.out.println(STARTED + ": OpenSearch " + Version.CURRENT + " at http://"
            + http.boundAddress().publishAddress() + " (cluster " + settings.get("cluster.name")
            + ", home " + home + ")");
        System.out.flush();
        closed.await();
    }
}
