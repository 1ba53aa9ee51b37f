from sentscore.cli import main

raise SystemExit(main())
