# The tables as HTML pages for `snakemake --report results/report.html` (the report shows HTML
# and images inline, any other file only as a download). Figures are marked in their own rules.
rule report_table:
    input:
        lambda w: REPORT_TABLE_SOURCES.get(w.name, f"results/tables/{w.name}.md"),
    output:
        report(
            "results/report/{name}.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    log:
        "logs/report/{name}.log",
    wildcard_constraints:
        name=one_of(REPORT_TABLES),
    conda:
        ENV
    params:
        code=code("report_table.py"),
        title=lambda w: REPORT_TABLES[w.name],
    script:
        "../scripts/report_table.py"
