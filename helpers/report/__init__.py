"""The report: tables and figures built only from results files."""
