"""Accuracy and speed of language identification on real text, for choosing a detector.

    .venv/bin/python bench/language_id.py ../shared/corpus/bbc=en ../shared/corpus/html \
        [--detectors py3langid,docmill,lingua,lingua-low] [--max-docs N] [--json FILE]

Each CORPUS is a file or folder (searched recursively for .txt, .md, .html, .htm, .html.gz);
`CORPUS=LANG` says every document in it is in LANG. Without it a document's expected language
comes from HAND_LABELS (by file name; labels given by reading the extracted text of the web
pages in ../shared/corpus/html), else from `<html lang="...">`, else it is timed but not scored.
Documents are read, extracted (HTML), cleaned and split into paragraphs by the pipeline's own
code (tasks/ingest/read.py, tasks/clean/steps.py), so they are what the pipeline identifies; a
paragraph is expected to be in its document's language (web pages quote and mix, so their
paragraph figures are a lower bound). `--labels` prints every document's label per detector
(they are in the JSON too): for the web pages, the labels the pipeline gives them. Built-in
short samples (headlines, one-line sentences, 2-3 sentence paragraphs in English, German,
Spanish and French, written for this benchmark) are scored too.

Detectors: `py3langid` (the bundled model on the whole text), `docmill`
(tasks/filters/language.py as the pipeline uses it: a document's label from `identify_document`
over its paragraphs, each paragraph on a bounded sample, None below MIN_LETTERS letters),
`lingua` and `lingua-low` (lingua-language-detector, all languages, high / low accuracy mode;
skipped when not installed). Times are per call on one core (process CPU time, so a detector
that used more threads would show it); memory is the resident-set growth while loading the
detector. The quality signals of tasks/filters/quality.py are timed on the same documents.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from docmill.tasks.clean.steps import clean_document, paragraph_spans
from docmill.tasks.ingest.read import plan_items, read_items
from docmill.tasks.records import ItemRejected

# Web pages of ../shared/corpus/html, labelled by reading the text trafilatura extracts.
# None: no single language (a multi-script demo, server status tables, link lists, empty).
HAND_LABELS: dict[str, str | None] = {
    "adac.de.kindersitze.html": "de",
    "apache.html": None,
    "basicthinking.de.tweets.html": "de",
    "blog.python.org.html": "en",
    "bmjv.de.konsum.html": "de",
    "brandenburg.de.homo-brandenburgensis.html": "de",
    "buchperlen.wordpress.com.html": "de",
    "cdu-fraktion-erfurt.de.waldorfschule.html": "de",
    "chineselyrics4u.com.zhineng.html": "zh",  # Chinese lyrics, each line with its pinyin
    "chip.de.tests.html": "de",
    "computerbase.de.htc.html": "de",
    "crazy-julia.de.tipps.html": "de",
    "creativecommons.org.html": "en",
    "demokratiewebstatt.at.luft.html": "de",
    "die-partei.net.luebeck.html": "de",
    "dw.com.uncork.html": "en",
    "en.wikipedia.org.tsne.html": "en",
    "exotic_tags.html": "en",
    "fairkom.eu.about.html": "de",
    "franceculture.fr.idees.html": "fr",
    "futurezone.at.lyft.html": "de",
    "gofeminin.de.abnehmen.html": "de",
    "gruen-digital.de.jahrestagung.html": "de",
    "http_sample.html": "en",
    "hundeverein-kreisunna.de.html": "de",
    "incurvy.de.wellness.html": "de",
    "jolie.de.adele.html": "de",
    "knowtechie.com.rally.html": "en",
    "kulu-media.com.meta-outage.html": "en",
    "landwirt.com.sensortechnik.html": "de",
    "laviedesidees.fr.evaluation.html": "fr",
    "love-hina.ch.0409.html": "de",
    "luxuryhaven.co.hyatt.html": "en",
    "meedia.de.freenet.html": "de",
    "mixed.de.vrodo.html": "de",
    "moritz-meyer.net.vreni.html": "de",
    "mozilla.org.firefox.developer.html": "en",
    "nature.com.telescope.html": "en",
    "netzpolitik.org.abmahnungen.html": "de",
    "otto.de.twoforfashion.html": "de",
    "phys.org.tool.html": "en",
    "plentylife.blogspot.pamela-reif.html": "de",
    "psl.eu.luniversite.html": "fr",
    "reuters.com.parasite.html": "en",
    "rs-ingenieure.de.tragwerksplanung.html": "de",
    "sauvonsluniversite.com.spip.html": "fr",
    "scam.html": None,
    "scmp.com.playbook.html": "en",
    "simplyscience.ch.erdoel.html": "de",  # <html lang="en-us">, but the text is German
    "sonntag-sachsen.de.emanuel.html": "de",
    "speicherguide.de.schwierige.html": "de",
    "spiegel.de.albtraum.html": "de",
    "stackoverflow.com.rust.html": "en",
    "sueddeutsche.de.flixtrain.html": "de",
    "theguardian.com.academics.html": "en",
    "theverge.com.ios13.html": "en",
    "toralin.de.schmierfett.html": "de",
    "utf8.html": None,
    "vice.com.amazon.html": "en",
    "webpage.html.gz": "en",
    "wehranlage-horka.de.887.html": "de",
    "womencantalksports.com.top10.html": "en",
}

# (language, kind, text): headlines (~15-35 letters), one-line sentences, 2-3 sentence
# paragraphs, with the same content in each language so the languages are comparable.
SAMPLES: list[tuple[str, str, str]] = [
    ("en", "headline", "Rain stops play at Lord's"),
    ("en", "headline", "Oil prices hit new high"),
    ("en", "headline", "Minister quits over leak"),
    ("en", "headline", "Storm cuts power to homes"),
    ("en", "headline", "Bank raises interest rates"),
    ("en", "line", "The council will vote on the new budget next week."),
    ("en", "line", "Shares fell sharply after the company missed its targets."),
    ("en", "line", "She left the station before the rain started."),
    ("en", "line", "Tickets for the final sold out within an hour."),
    ("en", "line", "Our printer stopped working again this morning."),
    ("en", "line", "The bridge will stay closed until the repairs are finished."),
    ("en", "line", "He thanked the fans for their patience."),
    ("en", "line", "Please bring a copy of your passport."),
    ("en", "line", "Most of the snow had melted by Sunday."),
    ("en", "line", "Why did nobody tell us about the delay?"),
    (
        "en",
        "paragraph",
        "The museum reopened on Saturday after two years of renovation. Visitors queued around "
        "the block to see the restored ceiling, and staff said the first day had gone better "
        "than expected.",
    ),
    (
        "en",
        "paragraph",
        "Farmers in the region say the dry spring has cut their yields by a third. Several of "
        "them have asked the government for emergency help. A decision is expected before the "
        "harvest.",
    ),
    (
        "en",
        "paragraph",
        "I had never cooked for so many people before. The soup was too salty and the bread "
        "arrived late, but everyone seemed happy anyway.",
    ),
    (
        "en",
        "paragraph",
        "The new phone has a larger battery and a brighter screen. Reviewers praised the camera "
        "but complained about the price, which is higher than last year's model.",
    ),
    (
        "en",
        "paragraph",
        "Police closed the motorway for several hours after a lorry overturned near the "
        "junction. Nobody was seriously hurt. Drivers were told to expect delays until the "
        "evening.",
    ),
    (
        "en",
        "paragraph",
        "Researchers found that children who read for twenty minutes a day did better in every "
        "subject. The study followed more than three thousand pupils over five years.",
    ),
    ("de", "headline", "Regen stoppt das Spiel"),
    ("de", "headline", "Ölpreis erreicht Rekordhoch"),
    ("de", "headline", "Minister tritt nach Affäre zurück"),
    ("de", "headline", "Sturm legt Stromnetz lahm"),
    ("de", "headline", "Zentralbank erhöht den Leitzins"),
    ("de", "line", "Der Stadtrat stimmt nächste Woche über den Haushalt ab."),
    ("de", "line", "Die Aktie verlor nach den schwachen Zahlen deutlich an Wert."),
    ("de", "line", "Sie verließ den Bahnhof, bevor der Regen einsetzte."),
    ("de", "line", "Die Karten für das Finale waren nach einer Stunde ausverkauft."),
    ("de", "line", "Unser Drucker funktioniert heute schon wieder nicht."),
    ("de", "line", "Die Brücke bleibt bis zum Ende der Reparatur gesperrt."),
    ("de", "line", "Er bedankte sich bei den Fans für ihre Geduld."),
    ("de", "line", "Bitte bringen Sie eine Kopie Ihres Ausweises mit."),
    ("de", "line", "Bis Sonntag war der meiste Schnee geschmolzen."),
    ("de", "line", "Warum hat uns niemand von der Verspätung erzählt?"),
    (
        "de",
        "paragraph",
        "Das Museum ist am Samstag nach zwei Jahren Umbau wieder geöffnet worden. Die Besucher "
        "standen bis um die Ecke Schlange, um die restaurierte Decke zu sehen. Das Personal "
        "zeigte sich mit dem ersten Tag sehr zufrieden.",
    ),
    (
        "de",
        "paragraph",
        "Landwirte in der Region berichten, dass der trockene Frühling ihre Ernte um ein Drittel "
        "verringert hat. Mehrere von ihnen haben die Regierung um Soforthilfe gebeten.",
    ),
    (
        "de",
        "paragraph",
        "Ich hatte noch nie für so viele Leute gekocht. Die Suppe war zu salzig und das Brot kam "
        "zu spät, aber alle schienen trotzdem glücklich zu sein.",
    ),
    (
        "de",
        "paragraph",
        "Das neue Telefon hat einen größeren Akku und einen helleren Bildschirm. Die Tester "
        "lobten die Kamera, kritisierten aber den Preis, der höher liegt als beim "
        "Vorgängermodell.",
    ),
    (
        "de",
        "paragraph",
        "Die Polizei sperrte die Autobahn nach einem Lkw-Unfall für mehrere Stunden. Niemand "
        "wurde schwer verletzt. Autofahrer müssen bis zum Abend mit Verzögerungen rechnen.",
    ),
    (
        "de",
        "paragraph",
        "Forscher haben herausgefunden, dass Kinder, die täglich zwanzig Minuten lesen, in allen "
        "Fächern besser abschneiden. Die Studie begleitete mehr als dreitausend Schüler über "
        "fünf Jahre.",
    ),
    ("es", "headline", "La lluvia detiene el partido"),
    ("es", "headline", "El petróleo marca un nuevo récord"),
    ("es", "headline", "Dimite el ministro tras la filtración"),
    ("es", "headline", "La tormenta deja sin luz a miles"),
    ("es", "headline", "El banco central sube los tipos"),
    ("es", "line", "El ayuntamiento votará el nuevo presupuesto la próxima semana."),
    ("es", "line", "Las acciones cayeron con fuerza tras los malos resultados."),
    ("es", "line", "Salió de la estación antes de que empezara a llover."),
    ("es", "line", "Las entradas para la final se agotaron en una hora."),
    ("es", "line", "La impresora ha vuelto a fallar esta mañana."),
    ("es", "line", "El puente seguirá cerrado hasta que terminen las obras."),
    ("es", "line", "Agradeció a los aficionados su paciencia."),
    ("es", "line", "Por favor, traiga una copia de su pasaporte."),
    ("es", "line", "El domingo ya se había derretido casi toda la nieve."),
    ("es", "line", "¿Por qué nadie nos avisó del retraso?"),
    (
        "es",
        "paragraph",
        "El museo volvió a abrir sus puertas el sábado después de dos años de obras. Los "
        "visitantes hicieron cola durante horas para ver el techo restaurado.",
    ),
    (
        "es",
        "paragraph",
        "Los agricultores de la región aseguran que la primavera seca ha reducido la cosecha en "
        "un tercio. Varios de ellos han pedido ayuda urgente al gobierno.",
    ),
    (
        "es",
        "paragraph",
        "Nunca había cocinado para tanta gente. La sopa estaba demasiado salada y el pan llegó "
        "tarde, pero todos parecían contentos.",
    ),
    (
        "es",
        "paragraph",
        "El nuevo teléfono tiene una batería más grande y una pantalla más brillante. Los "
        "expertos elogiaron la cámara, aunque criticaron su precio.",
    ),
    (
        "es",
        "paragraph",
        "La policía cortó la autopista durante varias horas después de que volcara un camión. "
        "No hubo heridos graves. Se esperan retrasos hasta la noche.",
    ),
    (
        "es",
        "paragraph",
        "Los investigadores descubrieron que los niños que leen veinte minutos al día obtienen "
        "mejores notas en todas las asignaturas. El estudio siguió a más de tres mil alumnos.",
    ),
    ("fr", "headline", "La pluie interrompt le match"),
    ("fr", "headline", "Le pétrole atteint un record"),
    ("fr", "headline", "Le ministre démissionne après la fuite"),
    ("fr", "headline", "La tempête prive des milliers de foyers d'électricité"),
    ("fr", "headline", "La banque centrale relève ses taux"),
    ("fr", "line", "Le conseil municipal votera le budget la semaine prochaine."),
    ("fr", "line", "L'action a fortement baissé après des résultats décevants."),
    ("fr", "line", "Elle a quitté la gare avant que la pluie ne commence."),
    ("fr", "line", "Les billets pour la finale se sont vendus en une heure."),
    ("fr", "line", "Notre imprimante est encore tombée en panne ce matin."),
    ("fr", "line", "Le pont restera fermé jusqu'à la fin des travaux."),
    ("fr", "line", "Il a remercié les supporters pour leur patience."),
    ("fr", "line", "Merci d'apporter une copie de votre passeport."),
    ("fr", "line", "Dimanche, presque toute la neige avait fondu."),
    ("fr", "line", "Pourquoi personne ne nous a prévenus du retard ?"),
    (
        "fr",
        "paragraph",
        "Le musée a rouvert ses portes samedi après deux ans de travaux. Les visiteurs ont fait "
        "la queue pendant des heures pour admirer le plafond restauré.",
    ),
    (
        "fr",
        "paragraph",
        "Les agriculteurs de la région affirment que le printemps sec a réduit leurs récoltes "
        "d'un tiers. Plusieurs d'entre eux ont demandé une aide d'urgence au gouvernement.",
    ),
    (
        "fr",
        "paragraph",
        "Je n'avais jamais cuisiné pour autant de monde. La soupe était trop salée et le pain "
        "est arrivé en retard, mais tout le monde avait l'air content.",
    ),
    (
        "fr",
        "paragraph",
        "Le nouveau téléphone dispose d'une batterie plus grande et d'un écran plus lumineux. "
        "Les testeurs ont salué l'appareil photo, mais critiqué son prix.",
    ),
    (
        "fr",
        "paragraph",
        "La police a fermé l'autoroute pendant plusieurs heures après l'accident d'un camion. "
        "Personne n'a été gravement blessé. Des ralentissements sont attendus jusqu'au soir.",
    ),
    (
        "fr",
        "paragraph",
        "Des chercheurs ont constaté que les enfants qui lisent vingt minutes par jour obtiennent "
        "de meilleurs résultats dans toutes les matières. L'étude a suivi plus de trois mille "
        "élèves.",
    ),
]

SUFFIXES = (".txt", ".md", ".html", ".htm", ".html.gz", ".htm.gz")
LETTER_BUCKETS = ((0, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, None))
_LETTER_RE = re.compile(r"[^\W\d_]")
_HTML_LANG_RE = re.compile(rb"<html[^>]*?\blang=[\"']?([A-Za-z]{2,3})", re.IGNORECASE)

Guess = tuple[str | None, float]


@dataclass
class Document:
    name: str
    corpus: str
    expected: str | None
    text: str
    spans: list[tuple[int, int]]

    @property
    def paragraphs(self) -> list[str]:
        return [self.text[start:end] for start, end in self.spans]


Spans = list[tuple[int, int]]


@dataclass
class Detector:
    name: str
    detect: Callable[[str], Guess]
    load_seconds: float
    load_mb: float
    paragraphs: Callable[[str, Spans], list[Guess]] | None = None
    # A document's label from its paragraphs, where the detector has its own rule for that.
    document: Callable[[str, Spans], Guess] | None = None


@dataclass
class Tally:
    n: int = 0
    correct: int = 0
    decided: int = 0
    cpu_seconds: float = 0.0
    confusions: Counter = field(default_factory=Counter)

    def add(self, expected: str, guess: Guess) -> None:
        self.n += 1
        self.decided += guess[0] is not None
        self.correct += guess[0] == expected
        if guess[0] != expected:
            self.confusions[f"{expected}->{guess[0]}"] += 1

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.correct / self.n if self.n else None,
            "decided": self.decided / self.n if self.n else None,
            "accuracy_of_decided": self.correct / self.decided if self.decided else None,
            "top_confusions": dict(self.confusions.most_common(5)),
        }


def read_corpus(spec: str, max_docs: int | None) -> Iterator[Document]:
    path_text, _, lang = spec.partition("=")
    root = Path(path_text)
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    paths = [p for p in paths if p.name.lower().endswith(SUFFIXES)][:max_docs]
    if not paths:
        sys.exit(f"no .txt/.md/.html files under {root}")
    for item, read in read_items(list(plan_items(paths))):
        path = Path(item.path)
        if isinstance(read, ItemRejected):
            print(f"{path}: not read ({read.reason}: {read.detail})", file=sys.stderr)
            continue
        doc = clean_document(read)
        if lang:
            expected = lang
        elif path.name in HAND_LABELS:
            expected = HAND_LABELS[path.name]
        else:
            match = _HTML_LANG_RE.search(path.read_bytes()[:4096]) if read.extraction else None
            expected = match.group(1).decode().lower() if match else None
        name = path.name if root.is_file() else str(path.relative_to(root.resolve()))
        yield Document(name, str(root), expected, doc.text, list(doc.paragraphs))


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _timed_load(build: Callable[[], Callable[[str], Guess]]) -> tuple[Callable, float, float]:
    rss, start = _rss_mb(), time.perf_counter()
    detect = build()
    detect("warm up the model with one call")
    return detect, time.perf_counter() - start, _rss_mb() - rss


def make_detector(name: str) -> Detector | None:
    if name == "py3langid":

        def build() -> Callable[[str], Guess]:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

            def detect(text: str) -> Guess:
                lang, score = identifier.classify(text)
                return (None if lang == "zxx" else lang), float(score)

            return detect

        return Detector(name, *_timed_load(build))
    if name == "docmill":
        from docmill.tasks.filters import language

        def document(text: str, spans: Spans) -> Guess:
            guess, _ = language.identify_document(text, spans)
            return guess.lang, guess.score

        def build() -> Callable[[str], Guess]:
            return lambda text: document(text, paragraph_spans(text))

        def paragraphs(text: str, spans: Spans) -> list[Guess]:
            return [(g.lang, g.score) for g in language.paragraph_languages(text, spans)]

        return Detector(name, *_timed_load(build), paragraphs=paragraphs, document=document)
    if name in ("lingua", "lingua-low"):
        try:
            import lingua
        except ImportError:
            print(f"{name}: lingua-language-detector is not installed, skipped", file=sys.stderr)
            return None

        def build() -> Callable[[str], Guess]:
            builder = lingua.LanguageDetectorBuilder.from_all_languages()
            if name == "lingua-low":
                builder = builder.with_low_accuracy_mode()
            detector = builder.build()

            def detect(text: str) -> Guess:
                values = detector.compute_language_confidence_values(text)
                if not values or values[0].value <= 0:
                    return None, 0.0
                return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)

            return detect

        return Detector(name, *_timed_load(build))
    raise SystemExit(f"unknown detector {name!r}")


def letters(text: str) -> int:
    return len(_LETTER_RE.findall(text))


def bucket_name(n_letters: int) -> str:
    for low, high in LETTER_BUCKETS:
        if high is None or n_letters < high:
            return f"{low}-{high - 1}" if high else f"{low}+"
    raise AssertionError


def run_detector(detector: Detector, docs: list[Document]) -> dict:
    detect = detector.detect
    doc_tally: dict[str, Tally] = defaultdict(Tally)
    para_tally: dict[str, Tally] = defaultdict(Tally)
    bucket_tally: dict[str, Tally] = defaultdict(Tally)
    doc_cpu = para_cpu = 0.0
    n_paragraphs = 0
    scores_right: list[float] = []
    scores_wrong: list[float] = []
    labels: dict[str, tuple[str | None, float]] = {}
    for doc in docs:
        start = time.process_time()
        guess = detector.document(doc.text, doc.spans) if detector.document else detect(doc.text)
        doc_cpu += time.process_time() - start
        labels[doc.name] = (guess[0], round(guess[1], 3))
        if doc.spans and detector.paragraphs is not None:
            start = time.process_time()
            para_guesses = detector.paragraphs(doc.text, doc.spans)
            para_cpu += time.process_time() - start
        else:
            start = time.process_time()
            para_guesses = [detect(p) for p in doc.paragraphs]
            para_cpu += time.process_time() - start
        n_paragraphs += len(doc.paragraphs)
        if doc.expected is None:
            continue
        doc_tally[doc.corpus].add(doc.expected, guess)
        (scores_right if guess[0] == doc.expected else scores_wrong).append(guess[1])
        for paragraph, para_guess in zip(doc.paragraphs, para_guesses, strict=True):
            para_tally[doc.corpus].add(doc.expected, para_guess)
            bucket_tally[bucket_name(letters(paragraph))].add(doc.expected, para_guess)
    samples: dict[str, Tally] = defaultdict(Tally)
    for lang, kind, text in SAMPLES:
        guess = detect(text)
        samples[f"{kind}/{lang}"].add(lang, guess)
        samples[kind].add(lang, guess)
    return {
        "load_seconds": round(detector.load_seconds, 3),
        "load_rss_mb": round(detector.load_mb, 1),
        "documents": {k: v.as_dict() for k, v in doc_tally.items()},
        "paragraphs": {k: v.as_dict() for k, v in para_tally.items()},
        "paragraphs_by_letters": {
            name: bucket_tally[name].as_dict()
            for name in (bucket_name(low) for low, _ in LETTER_BUCKETS)
            if name in bucket_tally
        },
        "samples": {k: v.as_dict() for k, v in sorted(samples.items())},
        "ms_per_document": 1000 * doc_cpu / len(docs),
        "ms_per_paragraph": 1000 * para_cpu / max(n_paragraphs, 1),
        "seconds_documents": doc_cpu,
        "seconds_paragraphs": para_cpu,
        "n_documents": len(docs),
        "n_paragraphs": n_paragraphs,
        "min_score_when_right": min(scores_right, default=None),
        "max_score_when_wrong": max(scores_wrong, default=None),
        "labels": labels,
    }


def time_quality(docs: list[Document]) -> dict:
    from docmill.tasks.filters.language import detect_language
    from docmill.tasks.filters.quality import quality_signals

    langs = [detect_language(doc.text).lang for doc in docs]
    quality_signals(docs[0].text, langs[0])  # stop-word list import is not what we time
    start = time.process_time()
    for doc, lang in zip(docs, langs, strict=True):
        quality_signals(doc.text, lang)
    seconds = time.process_time() - start
    return {"ms_per_document": 1000 * seconds / len(docs), "seconds": seconds}


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def report(name: str, result: dict) -> None:
    print(f"\n== {name}: load {result['load_seconds']:.2f} s, +{result['load_rss_mb']:.0f} MB")
    print(
        f"   {result['n_documents']} documents: {result['ms_per_document']:.3f} ms each "
        f"({result['seconds_documents']:.2f} s); {result['n_paragraphs']} paragraphs: "
        f"{result['ms_per_paragraph']:.3f} ms each ({result['seconds_paragraphs']:.2f} s)"
    )
    for section in ("documents", "paragraphs", "paragraphs_by_letters", "samples"):
        print(f"   {section}:")
        for key, tally in result[section].items():
            print(
                f"     {key:<32} n={tally['n']:<6} acc {_pct(tally['accuracy'])}  "
                f"decided {_pct(tally['decided'])}  acc(decided) "
                f"{_pct(tally['accuracy_of_decided'])}  {tally['top_confusions'] or ''}"
            )
    print(
        f"   document scores: lowest when right {result['min_score_when_right']}, "
        f"highest when wrong {result['max_score_when_wrong']}"
    )


def print_labels(labels: dict[str, tuple[str | None, float]], docs: list[Document]) -> None:
    """One line per document: expected language, label and score; `!` where they differ."""
    print("   labels (expected -> label score):")
    for doc in docs:
        label, score = labels[doc.name]
        wrong = "!" if doc.expected is not None and label != doc.expected else " "
        print(
            f"   {wrong} {doc.name:<48} {doc.expected or '-':>4} -> {label or '-':<4} {score:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+", metavar="CORPUS[=LANG]")
    parser.add_argument("--detectors", default="py3langid,docmill,lingua,lingua-low")
    parser.add_argument("--max-docs", type=int, default=None, help="per corpus")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--labels", action="store_true", help="print every document's label per detector"
    )
    args = parser.parse_args(argv)

    docs = [doc for spec in args.corpora for doc in read_corpus(spec, args.max_docs)]
    unlabelled = sum(doc.expected is None for doc in docs)
    print(f"{len(docs)} documents ({unlabelled} without an expected language, timed only)")
    results: dict[str, dict] = {}
    # lingua last: what it loads stays resident and would inflate later detectors' memory.
    for name in args.detectors.split(","):
        detector = make_detector(name.strip())
        if detector is not None:
            results[detector.name] = run_detector(detector, docs)
            report(detector.name, results[detector.name])
            if args.labels:
                print_labels(results[detector.name]["labels"], docs)
    quality = time_quality(docs)
    print(f"\n== quality signals: {quality['ms_per_document']:.3f} ms per document")
    if args.json:
        payload = {"corpora": args.corpora, "detectors": results, "quality": quality}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
