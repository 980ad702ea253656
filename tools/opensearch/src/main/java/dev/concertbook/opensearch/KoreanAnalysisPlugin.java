package dev.concertbook.opensearch;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.ko.KoreanAnalyzer;
import org.apache.lucene.analysis.ko.KoreanNumberFilter;
import org.apache.lucene.analysis.ko.KoreanPartOfSpeechStopFilter;
import org.apache.lucene.analysis.ko.KoreanReadingFormFilter;
import org.apache.lucene.analysis.ko.KoreanTokenizer;
import org.apache.lucene.analysis.ko.KoreanTokenizer.DecompoundMode;
import org.apache.lucene.analysis.ko.POS;
import org.apache.lucene.analysis.ko.dict.UserDictionary;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.IndexSettings;
import org.opensearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.opensearch.index.analysis.AbstractTokenFilterFactory;
import org.opensearch.index.analysis.AbstractTokenizerFactory;
import org.opensearch.index.analysis.Analysis;
import org.opensearch.index.analysis.AnalyzerProvider;
import org.opensearch.index.analysis.TokenFilterFactory;
import org.opensearch.index.analysis.TokenizerFactory;
import org.opensearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.opensearch.plugins.AnalysisPlugin;
import org.opensearch.plugins.Plugin;

/**
 * Korean analysis on Lucene's nori module, under the names Amazon OpenSearch Service's
 * analysis-nori plugin registers, so that an index's analysis settings written against this
 * server also work there unchanged.
 *
 * <ul>
 *   <li>tokenizer {@code nori_tokenizer}: {@code decompound_mode} (none, discard — the
 *       default —, mixed), {@code discard_punctuation} (default true), and a user dictionary
 *       either inline ({@code user_dictionary_rules}) or as a file under the config directory
 *       ({@code user_dictionary});
 *   <li>token filters {@code nori_part_of_speech} ({@code stoptags}, default Lucene's default
 *       stop tags), {@code nori_readingform} (hanja to hangul) and {@code nori_number};
 *   <li>analyzer {@code nori}: the tokenizer, part-of-speech filter, reading form and
 *       lowercase, taking the tokenizer's and the part-of-speech filter's settings.
 * </ul>
 */
public final class KoreanAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("nori_tokenizer", NoriTokenizerFactory::new);
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "nori_part_of_speech", PartOfSpeechFilterFactory::new,
            "nori_readingform", ReadingFormFilterFactory::new,
            "nori_number", NumberFilterFactory::new
        );
    }

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of("nori", NoriAnalyzerProvider::new);
    }

    static DecompoundMode decompoundMode(Settings settings) {
        String value = settings.get("decompound_mode");
        if (value == null) {
            return KoreanTokenizer.DEFAULT_DECOMPOUND;
        }
        try {
            return DecompoundMode.valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            String allowed = Arrays.stream(DecompoundMode.values())
                .map(mode -> mode.name().toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(", "));
            throw new IllegalArgumentException(
                "unknown decompound_mode [" + value + "], expected one of: " + allowed, e);
        }
    }

    /** The user dictionary of these settings, or null when they name none. */
    static UserDictionary userDictionary(Environment env, Settings settings) {
        List<String> rules = settings.getAsList("user_dictionary_rules", null);
        boolean fromFile = settings.get("user_dictionary") != null;
        if (rules != null && fromFile) {
            throw new IllegalArgumentException(
                "set either user_dictionary or user_dictionary_rules, not both");
        }
        try {
            if (rules != null) {
                return UserDictionary.open(new StringReader(String.join("\n", rules)));
            }
            if (fromFile) {
                try (Reader reader = Analysis.getReaderFromFile(env, settings, "user_dictionary")) {
                    return UserDictionary.open(reader);
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the nori user dictionary", e);
        }
        return null;
    }

    static Set<POS.Tag> stopTags(Settings settings) {
        List<String> names = settings.getAsList("stoptags", null);
        if (names == null) {
            return KoreanPartOfSpeechStopFilter.DEFAULT_STOP_TAGS;
        }
        Set<POS.Tag> tags = EnumSet.noneOf(POS.Tag.class);
        for (String name : names) {
            tags.add(POS.resolveTag(name.trim()));
        }
        return tags;
    }

    static final class NoriTokenizerFactory extends AbstractTokenizerFactory {
        private final UserDictionary userDictionary;
        private final DecompoundMode mode;
        private final boolean discardPunctuation;

        NoriTokenizerFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(indexSettings, settings, name);
            this.userDictionary = userDictionary(env, settings);
            this.mode = decompoundMode(settings);
            this.discardPunctuation = settings.getAsBoolean("discard_punctuation", true);
        }

        @Override
        public Tokenizer create() {
            return new KoreanTokenizer(
                TokenStream.DEFAULT_TOKEN_ATTRIBUTE_FACTORY, userDictionary, mode, false, discardPunctuation);
        }
    }

    static final class PartOfSpeechFilterFactory extends AbstractTokenFilterFactory {
        private final Set<POS.Tag> stopTags;

        PartOfSpeechFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(indexSettings, name, settings);
            this.stopTags = stopTags(settings);
        }

        @Override
        public TokenStream create(TokenStream input) {
            return new KoreanPartOfSpeechStopFilter(input, stopTags);
        }
    }

    static final class ReadingFormFilterFactory extends AbstractTokenFilterFactory {
        ReadingFormFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(indexSettings, name, settings);
        }

        @Override
        public TokenStream create(TokenStream input) {
            return new KoreanReadingFormFilter(input);
        }
    }

    static final class NumberFilterFactory extends AbstractTokenFilterFactory {
        NumberFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(indexSettings, name, settings);
        }

        @Override
        public TokenStream create(TokenStream input) {
            return new KoreanNumberFilter(input);
        }
    }

    static final class NoriAnalyzerProvider extends AbstractIndexAnalyzerProvider<KoreanAnalyzer> {
        private final KoreanAnalyzer analyzer;

        NoriAnalyzerProvider(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(indexSettings, name, settings);
            this.analyzer = new KoreanAnalyzer(
                userDictionary(env, settings), decompoundMode(settings), stopTags(settings), false);
        }

        @Override
        public KoreanAnalyzer get() {
            return analyzer;
        }
    }
}
