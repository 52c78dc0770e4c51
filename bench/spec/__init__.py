"""What a run is: typed parameters, the run config, sweeps and seeds, statuses and labels. No torch here."""
